"""The steps of the nightly run for one snapshot date, as plain functions that take and
return small things (dates, paths, counts), each known by one name: the flow's task, the
spark-submit job (`jobs/<name>.py`), the log lines and the manifest's durations use it.

    configuration -> ingest -> quality_gate -> snapshot -> relink -> push -> (manifest)

`configuration` fails before any work on a bad configuration; `ingest` lands the ready
deliveries; `quality_gate` stops the night on a delivery that did not land or a stale
source; `snapshot` computes and publishes profiles, index and alerts; `relink`
re-derives the alert lifecycle of later published dates after a past date was recomputed;
`push` sends the new and escalated alerts. The manifest and `_SUCCESS` come last
(pipelines.run.manifest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from pipelines.contracts import Contract, load_contracts
from pipelines.contracts.outputs import output_contract
from pipelines.ingest.run import ingest
from pipelines.lake import SUCCESS_MARKER, Lake, city_residents, read_json
from pipelines.policy import CODED_SETTINGS, Policy, load_policy
from pipelines.profile.indicators import check_indicators, load_indicators
from pipelines.pseudonym import fingerprint, load_key
from pipelines.push.deliver import push_queued
from pipelines.push.queue import queue_messages
from pipelines.push.sinks import open_sink
from pipelines.quality.gate import check_landed, freshness
from pipelines.report.run_report import write_report
from pipelines.run.params import Locations, RunParameters
from pipelines.settings import Settings
from pipelines.snapshot import build_snapshot, relink_lifecycle
from pipelines.spark import build_spark
from pipelines.storage import is_remote
from pipelines.tables import HOUSEHOLD_PROFILE

log = logging.getLogger(__name__)

Result = dict[str, Any]


def spark_session(settings: Settings) -> SparkSession:
    """The steps' session (started once per process, then the same)."""
    return build_spark(settings.master, residents=city_residents(settings.landing, settings.lake))


class PseudonymKeyChanged(RuntimeError):
    """The pseudonym key differs from the latest published run's, and no rotation was asked for."""


def latest_key_fingerprint(lake: Lake) -> tuple[date, str] | None:
    """The pseudonym key fingerprint of the latest published run (the latest date with
    `_SUCCESS` whose manifest records one), with its date."""
    for day in reversed(lake.run_dates()):
        if not (lake.run_dir(day) / SUCCESS_MARKER).exists():
            continue
        found = (read_json(lake.run_dir(day) / "manifest.json") or {}).get("configuration", {})
        if found.get("pseudonym_key_fingerprint"):
            return day, found["pseudonym_key_fingerprint"]
    return None


def key_continuity(lake: Lake, current: str, *, rotate: bool) -> dict[str, Any] | None:
    """Compare this run's key with the latest published run's: the same key goes on; a
    different one stops the run unless a rotation was asked for, which is then recorded."""
    latest = latest_key_fingerprint(lake)
    if latest is None or latest[1] == current:
        if rotate:
            log.warning("--rotate-pseudonym-key: the key is the one the latest published run used; nothing rotates")
        return None
    day, previous = latest
    if not rotate:
        raise PseudonymKeyChanged(
            f"the pseudonym key (fingerprint {current}) is not the one the latest published run used "
            f"({previous}, on {day}): every household_key would change and every alert look new. Set the "
            f"same LIPMON_PSEUDONYM_KEY or key file; to change the key on purpose, run with --rotate-pseudonym-key"
        )
    log.warning("pseudonym key rotated: fingerprint %s (latest published run, %s) -> %s", previous, day, current)
    return {"from": previous, "to": current, "latest_published_run": day.isoformat()}


def reach_lake(params: Locations) -> None:
    """A lake at a URI is reached through Spark's JVM: in-process runs start the Spark
    session, with its settings, before anything (the lease first) touches the lake."""
    settings = params.settings()
    if is_remote(settings.lake) and not params.spark_submit:
        spark_session(settings)


def check_configuration(params: RunParameters) -> Result:
    """Fail before any work on a bad configuration or a changed pseudonym key; the facts
    the manifest records. The date's `_SUCCESS` marker is withdrawn until this run has
    published everything."""
    reach_lake(params)
    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    policy.standards_on(params.snapshot_date)
    contracts = load_contracts(settings.contracts_dir)
    _check_policy_codes(policy, contracts, params.snapshot_date)
    check_indicators(load_indicators(settings.indicators_dir), contracts, policy)
    lake.restricted_zone()  # owner-only before anything (the default key file) is created in it
    key_fingerprint = fingerprint(load_key(lake.root / policy.pseudonym.key_file))
    rotation = key_continuity(lake, key_fingerprint, rotate=params.rotate_pseudonym_key)
    (lake.run_dir(params.snapshot_date) / SUCCESS_MARKER).unlink(missing_ok=True)
    return {
        "policy_hash": policy.digest(),
        "pseudonym_key_fingerprint": key_fingerprint,
        **({"pseudonym_key_rotation": rotation} if rotation else {}),
    }


def _check_policy_codes(policy: Policy, contracts: dict[str, Contract], on: date) -> None:
    """The settings that name departments' codes name codes their contracts have, and every
    farm item has a net return in force on `on` in every county."""
    codes = {
        setting: list(contracts[source].column(column).codes or {})
        for setting, (source, column) in CODED_SETTINGS.items()
        if source in contracts
    }
    policy.check_codes(codes)
    if "agriculture" in contracts:
        policy.farm_returns_on(on, codes["farm_net_returns.item"])


def step_ingest(params: RunParameters) -> Result:
    """Land every ready delivery dated on or before the snapshot date."""
    settings = params.settings()
    if not settings.landing.is_dir():
        raise FileNotFoundError(f"landing folder {settings.landing} does not exist")
    lake = Lake(settings.lake)
    contracts = load_contracts(settings.contracts_dir)
    computed = lake.dates(HOUSEHOLD_PROFILE)
    report = ingest(spark_session(settings), lake, settings.landing, contracts, as_of=params.snapshot_date)
    # A delivery dated before snapshots already computed arrived late (or was re-delivered):
    # those snapshots were computed without it. Say which dates a backfill should redo.
    late = sorted(
        r.extract_date
        for r in report.results
        if r.status == "landed" and any(r.extract_date <= d < params.snapshot_date for d in computed)
    )
    affected = [d for d in computed if late and late[0] <= d < params.snapshot_date]
    if affected:
        log.warning(
            "deliveries dated %s landed after the snapshots that depend on them were computed: "
            "run lipmon backfill --start %s --end %s",
            ", ".join(map(str, late)),
            affected[0],
            params.snapshot_date,
        )
    fields = ("source", "extract_date", "status", "rows_read", "rows_kept", "rows_quarantined", "error")
    return {
        "backfill_from": affected[0].isoformat() if affected else None,
        "deliveries": [{k: r.to_dict()[k] for k in fields} for r in report.results],
        "failed": [r.error for r in report.failures],
        "quality": {
            s: {"success": q["success"], "critical_failures": [o["name"] for o in q["critical_failures"]]}
            for s, q in report.quality.items()
        },
    }


def step_quality_gate(params: RunParameters, ingested: Result) -> Result:
    """Fail on a delivery that did not land or a source staler than its contract allows;
    otherwise return each source's last delivery and staleness in days."""
    check_landed(ingested["failed"])
    settings = params.settings()
    return freshness(Lake(settings.lake), load_contracts(settings.contracts_dir), params.snapshot_date)


def _describe_freshness(fresh: Result) -> str:
    ages = ", ".join(f"{s} {f['staleness_days']}d old" for s, f in fresh.items() if not f.get("absent"))
    absent = [s for s, f in fresh.items() if f.get("absent")]
    return ages + (f"; never delivered: {', '.join(absent)}" if absent else "")


def step_snapshot(params: RunParameters, fresh: Result) -> Result:
    """Profiles, index and alerts for the snapshot date, published atomically."""
    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    key = load_key(lake.root / policy.pseudonym.key_file)
    result = build_snapshot(
        spark_session(settings),
        lake,
        load_contracts(settings.contracts_dir),
        policy,
        load_indicators(settings.indicators_dir),
        as_of=params.snapshot_date,
        key=key,
        data_as_of={s: date.fromisoformat(f["last_delivery"]) for s, f in fresh.items() if f["last_delivery"]},
        full=params.full,
    )
    return result.counts()


def step_relink(params: RunParameters) -> Result:
    """Re-derive the alert lifecycle of the published dates after this one (they compared
    with alerts this run has just replaced)."""
    settings = params.settings()
    lake = Lake(settings.lake)
    key = load_key(lake.root / load_policy(settings.config).pseudonym.key_file)
    relinked = relink_lifecycle(
        spark_session(settings), lake, load_policy(settings.config), after=params.snapshot_date, key=key
    )
    if relinked:
        log.info("lifecycle re-derived for the later dates %s", ", ".join(map(str, relinked)))
    return {"relinked": [d.isoformat() for d in relinked]}


def step_push(params: RunParameters) -> Result:
    """Queue the date's NEW and ESCALATED alerts and send every queued message the ledger
    has not recorded, through the configured sink."""
    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    contract = output_contract("alert_message")
    queued, suppressed = queue_messages(spark_session(settings), lake, params.snapshot_date, contract)
    with closing(open_sink(policy.push, lake, contract)) as sink:
        report = push_queued(lake, sink, contract, batch_size=policy.push.batch_size)
    return {"queued_today": queued, "suppressed_today": suppressed, **report.to_dict()}


def step_report(params: RunParameters, relinked: list[str]) -> Result:
    """Write the run report of this date, after its manifest, and again of the later dates
    whose lifecycle this run re-derived (their statistics changed)."""
    settings = params.settings()
    lake = Lake(settings.lake)
    policy = load_policy(settings.config)
    days = [params.snapshot_date, *map(date.fromisoformat, relinked)]
    return {"reports": [str(write_report(lake, policy, day)) for day in days]}


def _describe_ingest(result: Result) -> str:
    landed = [d for d in result["deliveries"] if d["status"] == "landed"]
    late = result.get("backfill_from")
    return (
        f"{len(landed)} delivery(ies) landed, rows read {sum(d['rows_read'] for d in landed)}, "
        f"kept {sum(d['rows_kept'] for d in landed)}, quarantined {sum(d['rows_quarantined'] for d in landed)}"
        + (f"; late deliveries need a backfill from {late}" if late else "")
    )


def _describe_snapshot(result: Result) -> str:
    return (
        f"{result['households']} households scored, {result['alerts']} alerts ({result.get('persons', 0)} persons) "
        f"{result['alerts_by_rule']} "
        f"{result['alerts_by_status']}, {result['resolved']} resolved against "
        f"{result['lifecycle_against'] or 'no earlier run'}"
    )


def _describe_push(result: Result) -> str:
    return (
        f"{sum(result['delivered'].values())} message(s) delivered to {result['sink']} "
        f"{result['delivered']}, {result['already_delivered']} already delivered before, "
        f"{result.get('suppressed_today', 0)} suppressed by a recent visit"
    )


@dataclass(frozen=True)
class Step:
    """A step of the night. `name` is its one name everywhere; `title` says what it does;
    `spark`: it needs a Spark session, so it can run through spark-submit; `describe`
    gives the counts a person wants on its closing log line."""

    name: str
    title: str
    run: Callable[..., Result]
    spark: bool
    describe: Callable[[Result], str]


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "configuration",
            "check the configuration",
            check_configuration,
            False,
            lambda r: f"policy {r['policy_hash'][:12]}, pseudonym key {r['pseudonym_key_fingerprint'][:12]}",
        ),
        Step("ingest", "land the ready deliveries", step_ingest, True, _describe_ingest),
        Step(
            "quality_gate",
            "quality gate: failed deliveries and staleness",
            step_quality_gate,
            False,
            _describe_freshness,
        ),
        Step("snapshot", "profiles, index and alerts", step_snapshot, True, _describe_snapshot),
        Step(
            "relink",
            "lifecycle of later dates",
            step_relink,
            True,
            lambda r: f"re-derived {', '.join(r['relinked']) or 'none (unchanged)'}",
        ),
        Step("push", "push new and escalated alerts", step_push, True, _describe_push),
        Step("report", "the run report", step_report, False, lambda r: ", ".join(r["reports"])),
    )
}
SPARK_STEPS = tuple(name for name, step in STEPS.items() if step.spark)


def describe(name: str, result: Result) -> str:
    """The closing line's counts of a step's result."""
    return STEPS[name].describe(result)
