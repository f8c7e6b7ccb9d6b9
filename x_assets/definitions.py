"""The Definitions: assets, jobs, schedules, sensors and resources, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from .assets import account_insights, tweet_insights
from .constants import (
    DEFAULT_API_BASE_URL,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SOURCE_FILE,
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_API_BASE_URL,
    ENV_BEARER_TOKEN,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
    ENV_DUCKDB_PATH,
    ENV_SOURCE_FILE,
)
from .jobs import tweet_insights_job, x_daily_job
from .resources import XResource, env_or_none
from .schedules import x_daily_schedule, x_tweet_lookback_schedule
from .sensors import x_new_accounts_sensor
from .warehouse import Warehouse


def build_resources(**x_settings: Any) -> dict[str, dg.ConfigurableResource]:
    """Secrets as EnvVars (the UI shows names, not values); plain settings as values.

    x_settings override XResource fields such as max_attempts or backoff_seconds.
    """
    return {
        "x": XResource(
            bearer_token=env_or_none(ENV_BEARER_TOKEN),
            consumer_key=env_or_none(ENV_CONSUMER_KEY),
            consumer_secret=env_or_none(ENV_CONSUMER_SECRET),
            access_token=env_or_none(ENV_ACCESS_TOKEN),
            access_token_secret=env_or_none(ENV_ACCESS_TOKEN_SECRET),
            base_url=os.environ.get(ENV_API_BASE_URL) or DEFAULT_API_BASE_URL,
            source_file=os.environ.get(ENV_SOURCE_FILE) or DEFAULT_SOURCE_FILE,
            **x_settings,
        ),
        "warehouse": Warehouse(database=os.environ.get(ENV_DUCKDB_PATH) or DEFAULT_DUCKDB_PATH),
    }


defs = dg.Definitions(
    assets=[account_insights, tweet_insights],
    jobs=[x_daily_job, tweet_insights_job],
    schedules=[x_daily_schedule, x_tweet_lookback_schedule],
    sensors=[x_new_accounts_sensor],
    resources=build_resources(),
)
