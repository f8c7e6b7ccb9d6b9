from setuptools import find_packages, setup

setup(
    name="x_assets",
    version="0.1.0",
    description="X (Twitter) account and post insights as Dagster assets in DuckDB or Iceberg",
    packages=find_packages(exclude=["x_assets_tests", "x_assets_tests.*"]),
    package_data={"x_assets": ["py.typed"]},
    python_requires=">=3.11",
    install_requires=[
        "dagster==1.13.*",
        "dagster-webserver==1.13.*",
        "dagster-duckdb==0.29.*",
        "duckdb>=1.2,<3",
        "polars>=1.20,<3",
        "pyarrow>=17",
        "tweepy==4.17.*",
        "requests>=2.31",
        "oauthlib>=3.2",
        "PyYAML>=6",
        "pydantic>=2.6,<3",
        "matplotlib>=3.8",
        "zstandard>=0.22",  # the raw archive of X's answers (Python 3.11 has no zstd of its own)
        # the Iceberg destination: 0.12.0 has the partitioned-upsert fix; sql-postgres for a shared catalog
        "pyiceberg[sql-sqlite,sql-postgres,pyarrow]>=0.12.0,<0.13",
    ],
    extras_require={
        "dev": [
            "dagster-dg-cli==1.13.*",
            "pytest>=8",
            "jsonschema>=4.20",  # the emulator's answers against X's OpenAPI spec
            "pytest-timeout>=2.3",
            # two test processes: most tests wait on subprocesses and loopback servers, not the CPU
            "pytest-xdist>=3.5",
            "playwright>=1.45",
            "ruff==0.17.*",
            "mypy>=1.10",
            "types-PyYAML",
            "types-requests",
            # the deployment tests: instance storage on PostgreSQL, steps on Celery workers over Redis
            "dagster-postgres==0.29.*",
            "dagster-celery==0.29.*",
            "redis>=5",
            "moto[server]>=5",  # an S3-compatible server on loopback for the s3:// Iceberg test
        ],
        # X_EXECUTOR=celery: steps on dagster-celery workers, Redis as the broker
        "celery": ["dagster-celery==0.29.*", "redis>=5"],
        # a dagster.yaml with run, event log and schedule storage on PostgreSQL (deploy/dagster.yaml)
        "postgres": ["dagster-postgres==0.29.*"],
        # benchmarks/fair.py sets the connector against what users write instead, twarc among them
        "bench": ["twarc==2.14.*"],
    },
    entry_points={
        "console_scripts": [
            "x-assets-emulator=x_assets.emulator.cli:main",
            "x-assets=x_assets.cli:main",
        ],
        # `dg list components` lists x_assets.XSourceComponent wherever x_assets is installed.
        "dagster_dg_cli.registry_modules": ["x_assets = x_assets"],
    },
)
