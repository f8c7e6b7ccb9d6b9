"""Dagster: assets, checks, jobs, schedules, sensors, resources and the XSourceComponent, per source."""
