"""The job side of spark-submit: the entry point of a submitted step (`jobs/<step>.py` of
a checkout, or the packaged `pipelines/jobs/lipmon_step.py <step>`), and of a whole night
as one application (`night`). It runs the step in the submitted application, writes its
result as JSON, and exits 0; or prints one line `lipmon <step>: <reason>` and exits 1."""

from __future__ import annotations

import argparse
import logging
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from pipelines.lake import read_json, write_json
from pipelines.run.logs import configure_logging, failure_line
from pipelines.run.params import RunParameters
from pipelines.run.steps import SPARK_STEPS, STEPS, describe, step_quality_gate
from pipelines.storage import lake_location

log = logging.getLogger(__name__)
NIGHT = "night"


def _parser(step: str | None) -> argparse.ArgumentParser:
    prog = f"spark-submit jobs/{step}.py" if step else "spark-submit pipelines/jobs/lipmon_step.py STEP"
    parser = argparse.ArgumentParser(prog=prog, description="A step of lipmon, under spark-submit.")
    if step is None:
        parser.add_argument("step", choices=[*SPARK_STEPS, NIGHT], help="the step to run, or the whole night")
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="snapshot date YYYY-MM-DD")
    parser.add_argument("--landing", help="landing folder (env LIPMON_LANDING)")
    parser.add_argument("--lake", help="lake: a folder or a Hadoop URI (env LIPMON_LAKE)")
    parser.add_argument("--config", help="configuration file (env LIPMON_CONFIG)")
    parser.add_argument("--inputs", help="JSON file with the results of the upstream steps")
    parser.add_argument("--result", help="write the step's result here as JSON")
    parser.add_argument("--full", action="store_true", help="ignore and replace the state kept by earlier nights")
    return parser


def spark_placement() -> dict[str, Any]:
    """Where the step ran: the master, the application, the executors it had and the
    shuffle partitions it used (the submission's setting wins over lipmon's default)."""
    spark = SparkSession.getActiveSession()
    if spark is None:
        return {}
    sc = spark.sparkContext
    executors = sc._jsc.sc().getExecutorMemoryStatus().size()
    local = (sc.master or "").startswith("local")
    return {
        "master": sc.master,
        "application_id": sc.applicationId,
        "executors": None if local else executors - 1,  # the driver is listed too
        "default_parallelism": sc.defaultParallelism,
        "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions") or 0),
    }


def job_main(step: str | None, argv: list[str]) -> int:
    """Run one step (or, with `step=None`, the step named first in `argv`)."""
    args = _parser(step).parse_args(argv)
    name: str = step or args.step
    configure_logging()
    try:
        params = RunParameters(
            snapshot_date=args.date, landing=args.landing, lake=args.lake, config=args.config, full=args.full
        )
        inputs = (read_json(lake_location(args.inputs)) or {}).get("inputs", []) if args.inputs else []
        if name == NIGHT:
            from pipelines.run.flows import nightly  # Prefect only for a whole night

            result = nightly(params)
            closing = ""
        else:
            if name == "snapshot" and not inputs:  # submitted by hand: the gate's freshness check first
                inputs = [step_quality_gate(params, {"failed": []})]
            result = {**STEPS[name].run(params, *inputs), "spark": spark_placement()}
            closing = f": {describe(name, result)}"
        if args.result:
            write_json(lake_location(args.result), result)
        print(f"lipmon {name}: done{closing}")
        return 0
    except Exception as exc:  # one line for the caller; the traceback stays in the log
        log.exception("%s failed", name)
        print(failure_line(name, exc, args.lake), flush=True)
        return 1
