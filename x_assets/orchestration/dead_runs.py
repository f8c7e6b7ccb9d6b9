"""Runs whose process is gone: marked failed, and their x_api pool slot given back.

A run killed with SIGKILL (or lost with its machine) never reports its end, so Dagster keeps it
STARTED and keeps the concurrency slot its step claimed: with the x_api pool at limit 1, every
later run then waits forever. Dagster's run monitoring cannot see it either, since the default
run launcher has no worker health check. So each run records where it runs (host and process
id, as run tags), and at the start of every run, in the x_dead_runs_sensor (evaluated by the
daemon every minute) and in `x-assets release-dead-runs`, a run of this host whose process no
longer exists is marked failed and its slots are freed. A run of another host is never judged
from here: its process id means nothing on this one.
"""

from __future__ import annotations

import os
import socket

import dagster as dg

from ..constants import ENV_EXECUTOR
from ..log import Log, NullLog
from ..processes import process_alive

HOST_TAG = "x_assets/host"
PID_TAG = "x_assets/pid"
UNFINISHED_STATUSES = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def record_run_process(instance: dg.DagsterInstance, run_id: str) -> None:
    """Tag the run with this host and process, so a later run can tell whether it is still alive."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.tags.get(PID_TAG) != str(os.getpid()):
        instance.add_run_tags(run_id, {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})


def release_dead_runs(instance: dg.DagsterInstance, log: Log, run_ids: list[str] | None = None) -> list[str]:
    """Mark this host's runs whose process is gone as failed and free their pool slots.

    run_ids: runs to release whatever their host or process (a person's decision, for a run
    whose machine is gone). Returns the runs released.
    """
    here = socket.gethostname()
    filters = (
        dg.RunsFilter(statuses=UNFINISHED_STATUSES, run_ids=run_ids)
        if run_ids
        else dg.RunsFilter(statuses=UNFINISHED_STATUSES)
    )
    released = []
    for run in instance.get_runs(filters=filters):
        pid = run.tags.get(PID_TAG, "")
        if run_ids:
            how = "released by hand"
        elif run.tags.get(HOST_TAG) == here and pid.isdigit() and not process_alive(int(pid)):
            how = f"its process {pid} on {here} is gone"
        else:
            continue
        instance.report_run_failed(run, f"x_assets: run {run.run_id} marked failed: {how} (killed?)")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning(f"run {run.run_id} ({run.job_name}) was left unfinished: {how}; marked failed, its pool slot freed")
        released.append(run.run_id)
    return released


def on_run_start(context: dg.InitResourceContext) -> None:
    """Called as a run initializes its resources, before its steps claim pool slots.

    Its own process is alive, so it never releases itself.
    """
    if context.instance is None or not context.run_id:
        return
    # On a Celery worker this process runs one step, not the run: its end says nothing of the
    # run's (a worker's pool may recycle it). Such runs are released by hand, or by run monitoring
    # with a launcher that checks its workers (Kubernetes); see the README.
    if os.environ.get(ENV_EXECUTOR, "").strip() != "celery":
        record_run_process(context.instance, context.run_id)
    release_dead_runs(context.instance, context.log or NullLog())
