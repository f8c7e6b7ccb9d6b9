"""Names users and outside tools rely on: environment variables, tables, pools."""

ENV_BEARER_TOKEN = "X_BEARER_TOKEN"
ENV_CONSUMER_KEY = "X_CONSUMER_KEY"
ENV_CONSUMER_SECRET = "X_CONSUMER_SECRET"
ENV_ACCESS_TOKEN = "X_ACCESS_TOKEN"
ENV_ACCESS_TOKEN_SECRET = "X_ACCESS_TOKEN_SECRET"
ENV_API_BASE_URL = "X_API_BASE_URL"
ENV_SOURCE_FILE = "X_SOURCE_FILE"
ENV_DUCKDB_PATH = "X_DUCKDB_PATH"
ENV_DESTINATION = "X_DESTINATION"
ENV_ICEBERG_CATALOG_URI = "X_ICEBERG_CATALOG_URI"
ENV_ICEBERG_WAREHOUSE = "X_ICEBERG_WAREHOUSE"
ENV_EXECUTOR = "X_EXECUTOR"
ENV_CELERY_BROKER = "X_CELERY_BROKER"
ENV_CELERY_BACKEND = "X_CELERY_BACKEND"
ENV_LOOKBACK_DAYS = "X_LOOKBACK_DAYS"
ENV_REFRESH_POLICY = "X_REFRESH_POLICY"
ENV_REFRESH_TOLERANCE = "X_REFRESH_TOLERANCE"
ENV_MAX_POST_READS = "X_MAX_POST_READS"
ENV_MAX_WORKERS = "X_MAX_WORKERS"
ENV_FOLLOWER_DROP_WARN = "X_FOLLOWER_DROP_WARN"
ENV_ARCHIVE_DAYS = "X_ARCHIVE_DAYS"
ENV_FIRST_DAY = "X_FIRST_DAY"
ENV_SNAPSHOTS_FROM = "X_SNAPSHOTS_FROM"

DEFAULT_API_BASE_URL = "https://api.x.com"
DEFAULT_SOURCE_FILE = "x_source.yaml"
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"  # the file stem must differ from the schema name
ICEBERG_CATALOG_FILE = "iceberg_catalog.db"  # beside the DuckDB path: the SQLite catalog for one machine
ICEBERG_FOLDER = "iceberg"  # beside the DuckDB path: the tables' files for one machine
DEFAULT_LOOKBACK_DAYS = 7
DEFAULT_FOLLOWER_DROP_WARN = 0.05  # a day losing more than 5% of followers is worth a look

GROUP = "x"
SCHEMA = "x"
# A source's technical name: its DuckDB schema, asset-key prefix and the stem of its job names.
IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
POOL = "x_api"  # one step at a time calls X and writes DuckDB (one writer process)
PARTITIONS_START = "2024-01-01"  # the default first partition (X_FIRST_DAY)

ACCOUNT_INSIGHTS = "account_insights"
TWEET_INSIGHTS = "tweet_insights"
TWEET_METRICS_HISTORY = "tweet_metrics_history"
MENTIONS_INSIGHTS = "mentions_insights"
SEARCH_INSIGHTS = "search_insights"
ENDPOINTS = (ACCOUNT_INSIGHTS, TWEET_INSIGHTS, TWEET_METRICS_HISTORY, MENTIONS_INSIGHTS, SEARCH_INSIGHTS)
# What a source file without an endpoints list gets: the history costs no read of its own.
DEFAULT_ENDPOINTS = (ACCOUNT_INSIGHTS, TWEET_INSIGHTS, TWEET_METRICS_HISTORY)
ACCOUNT_STATUS = "account_status"
ACCOUNT_REGISTRY = "account_registry"
READ_LEDGER = "read_ledger"
ACCOUNT_DAILY_GROWTH = "account_daily_growth"
TWEET_ENGAGEMENT = "tweet_engagement"
ENGAGEMENT_BY_AGE = "engagement_by_age"

# Run tag naming the accounts a run is limited to (the new-account sensor sets it).
ACCOUNTS_TAG = "x/accounts"
# Run tag marking the sensor's history runs (its value: the source's name), so a failed one is requested again.
HISTORY_TAG = "x/history"
