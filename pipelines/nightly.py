"""The steps of the nightly run for one snapshot date, as plain functions that take and
return small things (dates, paths, counts). `flows.py` wires them into Prefect flows; the
command line and the spark-submit jobs call the same steps.

Steps: ingest -> quality gate (failed deliveries, staleness) -> snapshot (profiles, index,
alerts, publish) -> lifecycle of later dates (when a past date was recomputed) -> push ->
manifest. The manifest and the run's `_SUCCESS` marker come last; a failed run writes a
manifest saying where and why. A failed push leaves the date's data published and its
messages queued: the run fails, and the next run that pushes sends them.
"""

from __future__ import annotations

import logging
import os
import platform
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

import pipelines
from pipelines.contracts import load_contracts
from pipelines.lake import SUCCESS_MARKER, Lake, checkpoint, recover, write_json
from pipelines.policy import load_policy
from pipelines.pseudonym import fingerprint, load_key
from pipelines.published import describe_outputs
from pipelines.settings import Settings
from pipelines.storage import is_remote

log = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(TZ).date()


class QualityGateFailed(RuntimeError):
    pass


class _Locations(BaseModel):
    """Where a run reads and writes, and how its Spark steps run; None falls back to the
    environment, then the defaults. `spark_submit`: each Spark step is a spark-submit of
    its own (pipelines.submit) instead of running in this process."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    landing: str | None = None
    lake: str | None = None
    config: str | None = None
    master: str | None = None
    spark_submit: bool = False

    def settings(self) -> Settings:
        return Settings.resolve(landing=self.landing, lake=self.lake, config=self.config, master=self.master)

    def locations(self) -> dict:
        return {k: getattr(self, k) for k in _Locations.model_fields}


def _not_in_future(label: str, value: date) -> date:
    if value > today():
        raise ValueError(f"{label} {value} is in the future (today is {today()} in Asia/Shanghai)")
    return value


class RunParameters(_Locations):
    """What a nightly run needs; validated before any work. `relink_later`: after
    recomputing a date, re-derive the alert lifecycle of the published dates after it."""

    snapshot_date: date
    push: bool = True
    relink_later: bool = True

    @field_validator("snapshot_date")
    @classmethod
    def _snapshot_date(cls, value: date) -> date:
        return _not_in_future("snapshot_date", value)


class BackfillParameters(_Locations):
    start: date
    end: date
    push: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "BackfillParameters":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        _not_in_future("end", self.end)
        return self

    def dates(self) -> list[date]:
        from datetime import timedelta

        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def run(self, day: date) -> RunParameters:
        """The nightly run of one date of the range. Each date sees its predecessor in order,
        so only the last one re-derives the lifecycle of the published dates after the range."""
        return RunParameters(snapshot_date=day, push=self.push, relink_later=day == self.end, **self.locations())


def _spark(settings: Settings):
    from pipelines.spark import build_spark

    return build_spark(settings.master)


def step_ingest(params: RunParameters) -> dict:
    """Land every ready delivery dated on or before the snapshot date."""
    from pipelines.ingest.run import ingest

    settings = params.settings()
    if not settings.landing.is_dir():
        raise FileNotFoundError(f"landing folder {settings.landing} does not exist")
    lake = Lake(settings.lake)
    for zone, table in (("gold", "household_profile"), ("gold", "alerts"), ("gold", "alert_resolutions"),
                        ("restricted", "alerts"), ("restricted", "push_queue")):
        for restored in recover(lake.root / zone / table):
            log.warning("restored %s, left aside by an interrupted run", restored)
    computed = lake.partitions("gold", "household_profile", "snapshot_date")
    report = ingest(_spark(settings), lake, settings.landing, load_contracts(settings.contracts_dir),
                    as_of=params.snapshot_date)
    # A delivery dated before snapshots already computed arrived late (or was re-delivered):
    # those snapshots were computed without it. Say which dates a backfill should redo.
    late = sorted(r.extract_date for r in report.results
                  if r.status == "landed" and any(r.extract_date <= d < params.snapshot_date for d in computed))
    affected = [d for d in computed if late and late[0] <= d < params.snapshot_date]
    if affected:
        log.warning("deliveries dated %s landed after the snapshots that depend on them were computed: "
                    "run lipmon backfill --start %s --end %s", ", ".join(map(str, late)), affected[0],
                    params.snapshot_date)
    return {
        "backfill_from": affected[0].isoformat() if affected else None,
        "deliveries": [{k: r.to_dict()[k] for k in ("source", "extract_date", "status", "rows_read", "rows_kept",
                                                      "rows_quarantined", "error")} for r in report.results],
        "failed": [r.error for r in report.failures],
        "quality": {s: {"success": q["success"], "critical_failures": [o["name"] for o in q["critical_failures"]]}
                    for s, q in report.quality.items()},
    }


def step_quality_gate(params: RunParameters, ingested: dict) -> dict[str, dict]:
    """Fail on a delivery that did not land or a source staler than its contract allows;
    otherwise return each source's last delivery and staleness in days."""
    if ingested["failed"]:
        raise QualityGateFailed(f"{len(ingested['failed'])} delivery(ies) not landed; first: {ingested['failed'][0]}")
    settings = params.settings()
    lake = Lake(settings.lake)
    freshness = {}
    for name, contract in load_contracts(settings.contracts_dir).items():
        landed = [d for d in lake.partitions("bronze", name, "extract_date") if d <= params.snapshot_date]
        if not landed:
            raise QualityGateFailed(f"{name}: no delivery landed on or before {params.snapshot_date}")
        age = (params.snapshot_date - landed[-1]).days
        limit = contract.delivery.max_staleness_days
        if age > limit:
            raise QualityGateFailed(f"{name}: last delivery {landed[-1]} is {age} days old on {params.snapshot_date}, "
                                    f"more than the {limit} days its contract allows")
        freshness[name] = {"last_delivery": landed[-1].isoformat(), "staleness_days": age, "limit_days": limit}
        if age:
            log.info("%s: last delivery %s, %d day(s) old (limit %d)", name, landed[-1], age, limit)
    return freshness


def step_snapshot(params: RunParameters, freshness: dict[str, dict]) -> dict:
    """Profiles, index and alerts for the snapshot date, published atomically."""
    from pipelines.snapshot import build_snapshot

    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    key = load_key(lake.root / policy.pseudonym.key_file)
    result = build_snapshot(_spark(settings), lake, load_contracts(settings.contracts_dir), policy,
                            as_of=params.snapshot_date, key=key,
                            data_as_of={s: date.fromisoformat(f["last_delivery"]) for s, f in freshness.items()})
    return {
        "households": result.households,
        "alerts": result.alerts,
        "alerts_by_rule": result.alerts_by_rule,
        "alerts_by_category": result.alerts_by_category,
        "alerts_by_status": result.alerts_by_status,
        "resolved": result.resolved,
        "lifecycle_against": result.previous_run.isoformat() if result.previous_run else None,
        "inputs": result.inputs,
    }


def step_relink(params: RunParameters) -> dict:
    """Re-derive the alert lifecycle of the published dates after this one (they compared
    with alerts this run has just replaced)."""
    from pipelines.snapshot import relink_lifecycle

    settings = params.settings()
    relinked = relink_lifecycle(_spark(settings), Lake(settings.lake), after=params.snapshot_date)
    if relinked:
        log.info("lifecycle re-derived for the later dates %s", ", ".join(map(str, relinked)))
    return {"relinked": [d.isoformat() for d in relinked]}


def step_push(params: RunParameters) -> dict:
    """Queue the date's NEW and ESCALATED alerts and send every queued message the ledger
    has not recorded, through the configured sink."""
    from contextlib import closing

    from pipelines.contracts.outputs import output_contract
    from pipelines.push.deliver import push_queued
    from pipelines.push.queue import queue_messages
    from pipelines.push.sink import open_sink

    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    contract = output_contract("alert_message")
    queued = queue_messages(_spark(settings), lake, params.snapshot_date, contract)
    with closing(open_sink(policy.push, lake, contract)) as sink:
        report = push_queued(lake, sink, contract, batch_size=policy.push.batch_size)
    return {"queued_today": queued, **report.to_dict()}


SPARK_STEPS = {"ingest": step_ingest, "snapshot": step_snapshot, "relink": step_relink, "push": step_push}
# The flow's name of each Spark step (as in the manifest's durations).
STEP_NAMES = {"ingest": "ingest", "snapshot": "profiles, index and alerts", "relink": "lifecycle of later dates",
              "push": "push"}


def run_spark_step(step: str, params: RunParameters, *inputs) -> dict:
    """One Spark step, in this process or through spark-submit as the parameters say."""
    if params.spark_submit:
        from pipelines.submit import submit_step

        return submit_step(step, params, inputs)
    return SPARK_STEPS[step](params, *inputs)


def describe(step: str, result: dict) -> str:
    """The counts a person wants on a step's closing log line."""
    if step == "ingest":
        landed = [d for d in result["deliveries"] if d["status"] == "landed"]
        return (f": {len(landed)} delivery(ies) landed, rows read {sum(d['rows_read'] for d in landed)}, "
                f"kept {sum(d['rows_kept'] for d in landed)}, quarantined {sum(d['rows_quarantined'] for d in landed)}"
                + (f"; late deliveries need a backfill from {result['backfill_from']}" if result.get("backfill_from") else ""))
    if step == "quality gate":
        return ": " + ", ".join(f"{s} {f['staleness_days']}d old" for s, f in result.items())
    if step == "profiles, index and alerts":
        return (f": {result['households']} households scored, {result['alerts']} alerts {result['alerts_by_rule']} "
                f"{result['alerts_by_status']}, {result['resolved']} resolved against "
                f"{result['lifecycle_against'] or 'no earlier run'}")
    if step == "lifecycle of later dates":
        return f": re-derived {', '.join(result['relinked']) or 'none (unchanged)'}"
    if step == "push":
        return (f": {sum(result['delivered'].values())} message(s) delivered to {result['sink']} "
                f"{result['delivered']}, {result['already_delivered']} already delivered before")
    return ""


def check_configuration(params: RunParameters) -> dict:
    """Fail before any work on a bad configuration; the facts the manifest records. The
    date's `_SUCCESS` marker is withdrawn until this run has published everything."""
    settings = params.settings()
    if is_remote(settings.lake) and not params.spark_submit:
        # A lake at a URI is reached through Spark's JVM: start the session, with its
        # settings, before anything touches the lake.
        _spark(settings)
    (Lake(settings.lake).run_dir(params.snapshot_date) / SUCCESS_MARKER).unlink(missing_ok=True)
    policy = load_policy(settings.config)
    policy.standards_on(params.snapshot_date)
    load_contracts(settings.contracts_dir)
    lake = Lake(settings.lake)
    return {
        "policy_hash": policy.digest(),
        "pseudonym_key_fingerprint": fingerprint(load_key(lake.root / policy.pseudonym.key_file)),
    }


def write_manifest(params: RunParameters, manifest: dict) -> Path:
    """runs/D/manifest.json, then runs/D/_SUCCESS if the run succeeded: both last."""
    lake = Lake(params.settings().lake)
    run_dir = lake.run_dir(params.snapshot_date)
    marker = run_dir / SUCCESS_MARKER
    marker.unlink(missing_ok=True)
    payload = {
        "snapshot_date": params.snapshot_date.isoformat(),
        "parameters": params.model_dump(mode="json"),
        "versions": versions(),
        **manifest,
    }
    if manifest.get("outcome") == "succeeded":   # what readers may read: see pipelines/published.py
        payload["outputs"] = describe_outputs(lake.root, params.snapshot_date)
    write_json(run_dir / "manifest.json", payload)
    checkpoint("manifest:before-success-marker")
    if manifest.get("outcome") == "succeeded":
        marker.write_text("")
    return run_dir / "manifest.json"


def versions() -> dict:
    import great_expectations
    import prefect
    import pyspark

    return {"lipmon": pipelines.__version__, "python": platform.python_version(), "pyspark": pyspark.__version__,
            "great_expectations": great_expectations.__version__, "prefect": prefect.__version__,
            "host": platform.node(), "pid": os.getpid()}
