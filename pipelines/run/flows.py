"""Prefect flows of lipmon: the nightly run for one snapshot date and the backfill over a
range of dates. This module only wires steps together; the steps live in
pipelines.run.steps and are launched by pipelines.run.launch.

Tasks pass dates, paths and counts, never Spark objects. By default the Spark steps run
in the flow's process and share one session; with `spark_submit` each is a spark-submit
of its own against the configured master, with the same results. Retries only where a
failure can be passing (I/O); a failed quality gate is final.

    lipmon run --date D        runs `nightly` without any Prefect server (ephemeral mode)
    lipmon backfill ...        runs `backfill`
    lipmon serve               serves both as deployments: nightly on cron 0 2 * * * in
                               Asia/Shanghai, backfill on demand with parameters
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.schedules import Cron

from pipelines.lease import LakeLease
from pipelines.run.launch import run_step
from pipelines.run.manifest import write_manifest
from pipelines.run.params import BackfillParameters, RunParameters, today
from pipelines.run.steps import STEPS, Result, reach_lake

NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "Asia/Shanghai"


def _passing_failure(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry only what can pass by itself: I/O errors, not bad data or a failed gate."""
    error = state.data if isinstance(state.data, BaseException) else None
    return isinstance(error, (OSError, TimeoutError)) and not isinstance(error, FileNotFoundError)


def _timed(name: str, params: RunParameters, *inputs: Any) -> tuple[Result, float]:
    """Run one step; one line when it starts, one line with its counts and duration when it ends."""
    logger = get_run_logger()
    step = STEPS[name]
    logger.info("%s: %s", name, step.title)
    started = time.monotonic()
    result = run_step(name, params, *inputs)
    seconds = round(time.monotonic() - started, 2)
    logger.info("%s: finished in %.1fs: %s", name, seconds, step.describe(result))
    return result, seconds


@task(name="configuration")
def configuration(params: RunParameters) -> tuple[Result, float]:
    return _timed("configuration", params)


@task(name="ingest", retries=2, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def ingest(params: RunParameters) -> tuple[Result, float]:
    return _timed("ingest", params)


@task(name="quality_gate")
def quality_gate(params: RunParameters, ingested: Result) -> tuple[Result, float]:
    return _timed("quality_gate", params, ingested)


@task(name="snapshot", retries=1, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def snapshot(params: RunParameters, freshness: Result) -> tuple[Result, float]:
    return _timed("snapshot", params, freshness)


@task(name="relink", retries=1, retry_delay_seconds=30, retry_condition_fn=_passing_failure)
def relink(params: RunParameters) -> tuple[Result, float]:
    return _timed("relink", params)


# No task retries: the webhook sink retries within its own budget, and a failed push is
# picked up by the next run that pushes (the messages stay queued).
@task(name="push")
def push(params: RunParameters) -> tuple[Result, float]:
    return _timed("push", params)


@task(name="manifest", retries=2, retry_delay_seconds=5, retry_condition_fn=_passing_failure)
def manifest(params: RunParameters, contents: dict[str, Any]) -> str:
    return str(write_manifest(params, contents))


# A report that cannot be written does not undo the night: the tables are published and
# `lipmon report --date D` writes it again.
@task(name="report")
def report(params: RunParameters, relinked: list[str]) -> None:
    try:
        _timed("report", params, relinked)
    except Exception as exc:
        get_run_logger().error("report: not written: %s (lipmon report --date %s writes it)", exc, params.snapshot_date)


@flow(name="lipmon-nightly", log_prints=True)
def nightly(params: RunParameters) -> dict[str, Any]:
    """One snapshot date, holding the lake's lease: configuration, ingest, quality gate,
    profiles/index/alerts, the lifecycle of later dates, push (unless params.push is
    false), manifest, run report. A run stopped by its configuration (a bad setting, a changed
    pseudonym key) has done nothing and writes no manifest: the date stays as it was."""
    reach_lake(params)
    with LakeLease(params.settings().lake, command="run", date=params.snapshot_date.isoformat()):
        return _night(params)


def _night(params: RunParameters) -> dict[str, Any]:
    record: dict[str, Any] = {"outcome": "running", "durations": {}}
    durations = record["durations"]
    record["configuration"], durations["configuration"] = configuration(params)
    step = "ingest"
    try:
        record["ingest"], durations[step] = ingest(params)
        step = "quality_gate"
        record["freshness"], durations[step] = quality_gate(params, record["ingest"])
        step = "snapshot"
        record["snapshot"], durations[step] = snapshot(params, record["freshness"])
        if params.relink_later:
            step = "relink"
            record["lifecycle"], durations[step] = relink(params)
        step = "push"
        if params.push:
            record["push"], durations[step] = push(params)
        else:
            record["push"] = {"skipped": "push not requested (a backfill pushes only with --push)"}
        record["outcome"] = "succeeded"
    except Exception as exc:
        record.update(outcome="failed", failed_step=step, error=str(exc).splitlines()[0])
        raise
    finally:
        manifest(params, record)
        report(params, (record.get("lifecycle") or {}).get("relinked", []))
    return record


@flow(name="lipmon-backfill")
def backfill(params: BackfillParameters) -> list[dict[str, Any]]:
    """Rerun the nightly flow for every date of the range, in order, holding the lake's
    lease throughout; the last one re-derives the alert lifecycle of the published dates
    after the range."""
    reach_lake(params)
    with LakeLease(params.settings().lake, command="backfill", date=f"{params.start}..{params.end}"):
        return [nightly(params.run(day)) for day in params.dates()]


@flow(name="lipmon-nightly-scheduled")
def nightly_scheduled(
    landing: str | None = None,
    lake: str | None = None,
    config: str | None = None,
    master: str | None = None,
    spark_submit: bool = False,
    snapshot_date: date | None = None,
) -> dict[str, Any]:
    """The scheduled entry: the snapshot date defaults to today in Asia/Shanghai."""
    return nightly(
        RunParameters(
            snapshot_date=snapshot_date or today(),
            landing=landing,
            lake=lake,
            config=config,
            master=master,
            spark_submit=spark_submit,
        )
    )


def deployments(
    landing: str | None = None,
    lake: str | None = None,
    config: str | None = None,
    master: str | None = None,
    spark_submit: bool = False,
) -> list[Any]:
    """The nightly deployment on its cron schedule and the on-demand backfill deployment."""
    common = {"landing": landing, "lake": lake, "config": config, "master": master, "spark_submit": spark_submit}
    nightly_deployment = nightly_scheduled.to_deployment(
        name="nightly",
        schedules=[Cron(NIGHTLY_CRON, timezone=TIMEZONE)],
        parameters=common,
        description="Nightly lipmon run for today's date in Asia/Shanghai",
    )
    backfill_deployment = backfill.to_deployment(
        name="backfill",
        description="Rerun a date range in order (no push unless push=true)",
    )
    return [nightly_deployment, backfill_deployment]
