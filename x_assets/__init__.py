"""x_assets: X (Twitter) account and post insights as Dagster assets in DuckDB."""

__version__ = "0.1.0"
