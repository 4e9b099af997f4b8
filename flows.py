"""Prefect flows of lipmon: the nightly run for one snapshot date and the backfill over a
range of dates. This file only wires steps together; the steps live in pipelines.nightly.

Tasks pass dates, paths and counts, never Spark objects. By default the Spark steps run
in the flow's process and share one session; with `spark_submit` each is a spark-submit
of its own against the configured master (pipelines.submit), with the same results. Retries only where a failure can
be passing (I/O); a failed quality gate is final.

    lipmon run --date D        runs `nightly` without any Prefect server (ephemeral mode)
    lipmon backfill ...        runs `backfill`
    lipmon serve               serves both as deployments: nightly on cron 0 2 * * * in
                               Asia/Shanghai, backfill on demand with parameters
"""

from __future__ import annotations

import time
from datetime import date

from prefect import flow, get_run_logger, task
from prefect.schedules import Cron

from pipelines import nightly as steps
from pipelines.nightly import BackfillParameters, RunParameters

NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "Asia/Shanghai"


def _passing_failure(task_, task_run, state) -> bool:
    """Retry only what can pass by itself: I/O errors, not bad data or a failed gate."""
    error = state.data if isinstance(state.data, BaseException) else None
    return isinstance(error, (OSError, TimeoutError)) and not isinstance(error, FileNotFoundError)


def _timed(name: str, fn, *args):
    """Run one step; one line when it starts, one line with its counts and duration when it ends."""
    logger = get_run_logger()
    logger.info("%s: started", name)
    started = time.monotonic()
    result = fn(*args)
    seconds = round(time.monotonic() - started, 2)
    logger.info("%s: finished in %.1fs%s", name, seconds, steps.describe(name, result))
    return result, seconds


@task(name="check configuration")
def check_configuration(params: RunParameters) -> tuple[dict, float]:
    return _timed("check configuration", steps.check_configuration, params)


@task(name="ingest", retries=2, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def ingest(params: RunParameters) -> tuple[dict, float]:
    return _timed("ingest", steps.run_spark_step, "ingest", params)


@task(name="quality gate")
def quality_gate(params: RunParameters, ingested: dict) -> tuple[dict, float]:
    return _timed("quality gate", steps.step_quality_gate, params, ingested)


@task(name="profiles, index and alerts", retries=1, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def snapshot(params: RunParameters, freshness: dict) -> tuple[dict, float]:
    return _timed("profiles, index and alerts", steps.run_spark_step, "snapshot", params, freshness)


@task(name="lifecycle of later dates", retries=1, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def relink(params: RunParameters) -> tuple[dict, float]:
    return _timed("lifecycle of later dates", steps.run_spark_step, "relink", params)


# No task retries: the webhook sink retries within its own budget, and a failed push is
# picked up by the next run that pushes (the messages stay queued).
@task(name="push")
def push(params: RunParameters) -> tuple[dict, float]:
    return _timed("push", steps.run_spark_step, "push", params)


@task(name="manifest", retries=2, retry_delay_seconds=5, retry_condition_fn=_passing_failure)
def manifest(params: RunParameters, contents: dict) -> str:
    return str(steps.write_manifest(params, contents))


@flow(name="lipmon-nightly", log_prints=True)
def nightly(params: RunParameters) -> dict:
    """One snapshot date: configuration, ingest, quality gate, profiles/index/alerts, the
    lifecycle of later dates, push (unless params.push is false), manifest."""
    record: dict = {"outcome": "running", "durations": {}}
    step = "check configuration"
    try:
        record["configuration"], record["durations"][step] = check_configuration(params)
        step = "ingest"
        record["ingest"], record["durations"][step] = ingest(params)
        step = "quality gate"
        record["freshness"], record["durations"][step] = quality_gate(params, record["ingest"])
        step = "profiles, index and alerts"
        record["snapshot"], record["durations"][step] = snapshot(params, record["freshness"])
        if params.relink_later:
            step = "lifecycle of later dates"
            record["lifecycle"], record["durations"][step] = relink(params)
        step = "push"
        if params.push:
            record["push"], record["durations"][step] = push(params)
        else:
            record["push"] = {"skipped": "push not requested (a backfill pushes only with --push)"}
        record["outcome"] = "succeeded"
    except Exception as exc:
        record.update(outcome="failed", failed_step=step, error=str(exc).splitlines()[0])
        raise
    finally:
        manifest(params, record)
    return record


@flow(name="lipmon-backfill")
def backfill(params: BackfillParameters) -> list[dict]:
    """Rerun the nightly flow for every date of the range, in order; the last one re-derives
    the alert lifecycle of the published dates after the range."""
    return [nightly(params.run(day)) for day in params.dates()]


def deployments(landing: str | None = None, lake: str | None = None, config: str | None = None,
                master: str | None = None, spark_submit: bool = False) -> list:
    """The nightly deployment on its cron schedule and the on-demand backfill deployment."""
    common = {"landing": landing, "lake": lake, "config": config, "master": master, "spark_submit": spark_submit}
    nightly_deployment = nightly_scheduled.to_deployment(
        name="nightly", schedules=[Cron(NIGHTLY_CRON, timezone=TIMEZONE)], parameters=common,
        description="Nightly lipmon run for today's date in Asia/Shanghai",
    )
    backfill_deployment = backfill.to_deployment(
        name="backfill", description="Rerun a date range in order (no push unless push=true)",
    )
    return [nightly_deployment, backfill_deployment]


@flow(name="lipmon-nightly-scheduled")
def nightly_scheduled(landing: str | None = None, lake: str | None = None, config: str | None = None,
                      master: str | None = None, spark_submit: bool = False,
                      snapshot_date: date | None = None) -> dict:
    """The scheduled entry: the snapshot date defaults to today in Asia/Shanghai."""
    return nightly(RunParameters(snapshot_date=snapshot_date or steps.today(), landing=landing, lake=lake,
                                 config=config, master=master, spark_submit=spark_submit))
