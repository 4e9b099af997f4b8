"""Computing a snapshot date end to end: point-in-time inputs from bronze, profiles,
hardship index, alert rules and lifecycle, and publishing the gold and restricted
tables. The IO shell around the pure transforms in profile/, index/ and alerts/.

The lifecycle (status, first_seen_date, resolutions) is the only part of a date that
depends on earlier dates; `relink_lifecycle` re-derives it for the published dates after
one that was recomputed, so a backfill leaves no later date compared with stale alerts."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.alerts.lifecycle import LIFECYCLE_COLUMNS, resolutions, with_lifecycle
from pipelines.alerts.rules import apply_rules
from pipelines.contracts import Contract
from pipelines.contracts.derive import bronze_schema, partitioned_schema
from pipelines.contracts.outputs import OutputContract, conform, output_contract
from pipelines.frames import CACHE_LEVEL, local_frame
from pipelines.index.hardship import score
from pipelines.lake import REGISTRY, Lake, checkpoint, read_json, registry_lines, write_json
from pipelines.policy import ConfigError, Policy
from pipelines.profile.as_of import incremental_as_of, repeated_key_hashes
from pipelines.profile.household import household_profiles, lookup_tables, standards_table
from pipelines.profile.indicators import LOOKUPS, Indicator
from pipelines.profile.roll import left_off_roll, roll_exceptions
from pipelines.pseudonym import fingerprint, hmac_sha256_hex, spot_number
from pipelines.published import refresh_outputs
from pipelines.report.publish import publish_reports
from pipelines.spark import broadcast_if_small
from pipelines.state import person_indicators
from pipelines.storage import Location, rmtree
from pipelines.tables import (
    ALERT_RESOLUTIONS,
    ALERTS,
    HOUSEHOLD_PROFILE,
    LIFECYCLE_TABLES,
    REPORT_TABLES,
    RESTRICTED_ALERTS,
    ROLL_EXCEPTIONS,
    SNAPSHOT_TABLES,
    bronze_table,
)

log = logging.getLogger(__name__)

# A city's profiles are read more than once in a night (the rank's sort samples them, the
# household sources are matched against the aggregated households): from this many
# residents they are cached, and computed once. At 2,000,000 households that takes about
# 100 s off the snapshot; at 1,000 the caches cost 2-3 s and 0.2 GB of the JVM, more than
# computing the profiles again (docs/performance.md).
CACHE_FROM_RESIDENTS = 100_000
# A large city's roll rows whose household has nobody registered (353 of 290,851 at
# 2,000,000 households) are collected when there are at most this many, and the registry
# is filtered by their persons where it lies: matched by a join, the whole registry was
# shuffled for them (about 15 s of the snapshot at 2,000,000 households).
FEW_LEFT_OFF = 10_000


def _output_contracts() -> dict[str, OutputContract]:
    """The snapshot tables' output contracts, by contract name."""
    return {t.contract: output_contract(t.contract) for t in SNAPSHOT_TABLES if t.contract}


class MissingInput(RuntimeError):
    pass


@dataclass
class SnapshotResult:
    as_of: date
    households: int = 0
    alerts: int = 0
    alerts_by_rule: dict[str, int] = field(default_factory=dict)
    alerts_by_category: dict[str, int] = field(default_factory=dict)
    alerts_by_status: dict[str, int] = field(default_factory=dict)
    alerts_by_urgency: dict[str, int] = field(default_factory=dict)
    alerts_by_exit_reason: dict[str, int] = field(default_factory=dict)
    alerts_by_programme: dict[str, int] = field(default_factory=dict)
    persons: int = 0
    persons_by_rule: dict[str, int] = field(default_factory=dict)
    persons_by_category: dict[str, int] = field(default_factory=dict)
    newly_found: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0
    roll: dict[str, int] = field(default_factory=dict)
    roll_exceptions: dict[str, Any] = field(default_factory=dict)
    resolved: int = 0
    resolved_by_reason: dict[str, int] = field(default_factory=dict)
    previous_run: date | None = None
    inputs: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, Any]:
        """What a run records of its snapshot (the step's result, snapshot.json)."""
        return {
            "households": self.households,
            "alerts": self.alerts,
            "alerts_by_rule": self.alerts_by_rule,
            "alerts_by_category": self.alerts_by_category,
            "alerts_by_status": self.alerts_by_status,
            "alerts_by_urgency": self.alerts_by_urgency,
            "alerts_by_exit_reason": self.alerts_by_exit_reason,
            "alerts_by_programme": self.alerts_by_programme,
            "persons": self.persons,
            "persons_by_rule": self.persons_by_rule,
            "persons_by_category": self.persons_by_category,
            "newly_found": self.newly_found,
            "suppressed": self.suppressed,
            "roll": self.roll,
            "roll_exceptions": self.roll_exceptions,
            "resolved": self.resolved,
            "resolved_by_reason": self.resolved_by_reason,
            "lifecycle_against": self.previous_run.isoformat() if self.previous_run else None,
            "inputs": self.inputs,
        }


def _lookup_codes(contracts: dict[str, Contract]) -> dict[str, list[str]]:
    """Each lookup's codes (those of the source column it prices), for the sources with a contract."""
    return {
        name: list(contracts[source].column(match).codes or {})
        for name, (source, match, _) in LOOKUPS.items()
        if source in contracts
    }


def _bronze(spark: SparkSession, lake: Lake, contract: Contract, dates: list[date]) -> DataFrame:
    """Bronze partitions read with their explicit schema and their extract_date."""
    table, schema = bronze_table(contract.name), bronze_schema(contract)
    if not dates:
        return local_frame(spark, [], partitioned_schema(schema, table.partition))
    return lake.read_dates(spark, table, dates, schema)


class SourcesAsOf(Mapping[str, DataFrame]):
    """Each delivered source as of the snapshot date, by contract name, assembled when it
    is first asked for. A snapshot source is its latest partition; an incremental source's
    latest row per key costs a pass over a year of its deliveries (every key hashed and
    counted), which a night whose person indicators of the source come from the state
    never needs. Membership and the dates read are known without touching the data."""

    def __init__(self, spark: SparkSession, lake: Lake, contracts: dict[str, Contract], as_of: date) -> None:
        self._spark, self._lake, self._contracts, self._as_of = spark, lake, contracts, as_of
        self._frames: dict[str, DataFrame] = {}
        self.dates: dict[str, list[date]] = {}
        for name, contract in contracts.items():
            dates = [d for d in lake.dates(bronze_table(name)) if d <= as_of]
            if not dates and not contract.delivery.required:
                continue  # never delivered: absent (the quality gate has recorded it so)
            if contract.delivery.mode == "snapshot":
                if not dates:
                    raise MissingInput(f"no {name} delivery landed on or before {as_of}")
                dates = dates[-1:]
            self.dates[name] = dates

    def __getitem__(self, name: str) -> DataFrame:
        if name not in self._frames:
            contract, dates = self._contracts[name], self.dates[name]
            bronze = _bronze(self._spark, self._lake, contract, dates)
            if contract.delivery.mode == "snapshot":
                self._frames[name] = bronze
            else:
                # Cached (the caller's clearCache releases it): counted here, then joined twice.
                repeated = repeated_key_hashes(bronze, contract, self._as_of).persist(CACHE_LEVEL)
                self._frames[name] = incremental_as_of(bronze, contract, self._as_of, broadcast_if_small(repeated))
        return self._frames[name]

    def __contains__(self, name: object) -> bool:
        return name in self.dates

    def __iter__(self) -> Iterator[str]:
        return iter(self.dates)

    def __len__(self) -> int:
        return len(self.dates)


def read_inputs(
    spark: SparkSession, lake: Lake, contracts: dict[str, Contract], as_of: date, result: SnapshotResult
) -> SourcesAsOf:
    """Each source as of the snapshot date (`SourcesAsOf`); the dates read go to `result`."""
    inputs = SourcesAsOf(spark, lake, contracts, as_of)
    result.inputs = {name: [d.isoformat() for d in dates] for name, dates in inputs.dates.items()}
    return inputs


def _write(df: DataFrame, contract: OutputContract, staging: Location) -> Location:
    staged = staging / contract.zone / contract.name
    conform(df, contract).write.parquet(str(staged))
    return staged


def _previous_run(lake: Lake, as_of: date) -> date | None:
    """The latest published alerts before the snapshot date (a missed night is skipped).
    Published means the partition exists: it appears whole, and a night whose push failed
    after publishing still counts, since its alerts were computed in full."""
    earlier = [d for d in lake.dates(ALERTS) if d < as_of]
    return earlier[-1] if earlier else None


def _lifecycle(
    spark: SparkSession,
    lake: Lake,
    outputs: dict[str, OutputContract],
    current: DataFrame,
    scored: DataFrame,
    as_of: date,
    key: bytes,
    policy: Policy,
) -> tuple[DataFrame, DataFrame, date | None]:
    """Today's alerts with their lifecycle, the resolutions, and the previous run's date.
    `scored`: today's scored households (household_key), which tells a resolution's reason.

    The previous run's alerts are read from their restricted copy and keyed again with
    this run's pseudonym key, from the household number: after a deliberate rotation of the
    key, households keep their status and first_seen_date, and no resolution is invented
    (with an unchanged key this gives the very keys that were published)."""
    previous_date = _previous_run(lake, as_of)
    if previous_date is None:
        empty = local_frame(spark, [], outputs["alert_resolutions"].schema())
        return with_lifecycle(current, None, as_of, policy), empty, None
    previous = (
        lake.read(spark, RESTRICTED_ALERTS, previous_date, outputs["restricted_alerts"].schema())
        .withColumn("household_key", hmac_sha256_hex(F.col("household_id"), key))
        .select(*outputs["alerts"].schema().fieldNames())
    )
    return (
        with_lifecycle(current, previous, as_of, policy),
        resolutions(current, previous, previous_date, scored),
        previous_date,
    )


def _stage_lifecycle(
    alerts: DataFrame, resolved: DataFrame, outputs: dict[str, OutputContract], staging: Location
) -> dict[str, Location]:
    return {
        name: _write(frame, outputs[name], staging)
        for name, frame in (("restricted_alerts", alerts), ("alerts", alerts), ("alert_resolutions", resolved))
    }


def _publish_lifecycle(lake: Lake, staged: dict[str, Location], as_of: date) -> None:
    # Restricted first, analyst tables after: never an analyst alert without its caseworker copy.
    lake.publish(staged["restricted_alerts"], RESTRICTED_ALERTS, as_of)
    checkpoint("snapshot:between-tables")
    lake.publish(staged["alerts"], ALERTS, as_of)
    lake.publish(staged["alert_resolutions"], ALERT_RESOLUTIONS, as_of)


def build_snapshot(
    spark: SparkSession,
    lake: Lake,
    contracts: dict[str, Contract],
    policy: Policy,
    indicators: Sequence[Indicator],
    *,
    as_of: date,
    key: bytes,
    data_as_of: dict[str, date] | None = None,
    full: bool = False,
) -> SnapshotResult:
    """`full`: compute every source's person indicators from its rows, whatever the
    state holds (pipelines.state)."""
    started = time.monotonic()
    result = SnapshotResult(as_of)
    outputs = _output_contracts()
    standards = standards_table(spark, policy, as_of)  # fails here, before any work, on a gap
    lookups = lookup_tables(spark, policy, _lookup_codes(contracts), as_of)
    inputs = read_inputs(spark, lake, contracts, as_of, result)
    log.info(
        "snapshot %s: inputs %s; computing profiles, index and alerts",
        as_of,
        {name: f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else dates for name, dates in result.inputs.items()},
    )
    found = person_indicators(spark, lake, inputs, result.inputs, contracts, indicators, policy, as_of, full=full)
    cache = (registry_lines(lake, inputs.dates[REGISTRY][-1]) or 0) >= CACHE_FROM_RESIDENTS
    held: list[DataFrame] = []  # cached on the way to the scored households, released once they are
    profiles = household_profiles(inputs, standards, lookups, indicators, policy, as_of, found, cache=cache, held=held)
    scored = (
        apply_rules(
            score(profiles, policy), policy, spot_number(F.col("household_id"), key, as_of), cache=cache, held=held
        )
        .withColumn("household_key", hmac_sha256_hex(F.col("household_id"), key))
        .withColumn("data_as_of", _date_map(data_as_of or {}))
        .persist(CACHE_LEVEL)
    )
    # Computes every scored household (the distinct reads all of them).
    unpriced = [
        r["county_code"]
        for r in scored.where(F.col("dibao_standard").isNull()).select("county_code").distinct().limit(5).collect()
    ]
    for frame in held:  # the scored households hold the rows from here on
        frame.unpersist()
    if unpriced:
        raise ConfigError(f"no dibao standard in force on {as_of} for county {', '.join(sorted(unpriced))}")
    alerts, resolved, result.previous_run = _lifecycle(
        spark, lake, outputs, scored.where(F.size("rules") > 0), scored, as_of, key, policy
    )
    alerts = alerts.persist(CACHE_LEVEL)
    if "assistance_roll" in inputs:
        left_off, persons = left_off_roll(inputs["assistance_roll"], scored, as_of), None
        if cache:  # a large city: its few households left off are held here, not matched by a shuffle
            few = left_off.limit(FEW_LEFT_OFF + 1).collect()
            if len(few) <= FEW_LEFT_OFF:
                left_off, persons = local_frame(spark, few, left_off.schema), [r["person_id"] for r in few]
        exceptions = roll_exceptions(left_off, inputs["residents"], persons).withColumn(
            "household_key", hmac_sha256_hex(F.col("household_id"), key)
        )
    else:
        exceptions = local_frame(spark, [], outputs["roll_exceptions"].schema())
    staging = lake.staging()
    try:
        log.info("snapshot %s: writing household profiles and alerts", as_of)
        staged = {
            "household_profile": _write(scored, outputs["household_profile"], staging),
            "roll_exceptions": _write(exceptions, outputs["roll_exceptions"], staging),
            **_stage_lifecycle(alerts, resolved, outputs, staging),
        }
        log.info("snapshot %s: publishing", as_of)
        lake.publish(staged["roll_exceptions"], ROLL_EXCEPTIONS, as_of)
        _publish_lifecycle(lake, staged, as_of)
        lake.publish(staged["household_profile"], HOUSEHOLD_PROFILE, as_of)
        for name, value in publish_reports(lake, policy, as_of).items():
            setattr(result, name, value)
        log.info(
            "snapshot %s: %d households, %d alerts (%d persons), %d resolved against %s",
            as_of,
            result.households,
            result.alerts,
            result.persons,
            result.resolved,
            result.previous_run or "no earlier run",
        )
    finally:
        rmtree(staging)
        scored.unpersist()
        alerts.unpersist()
        spark.catalog.clearCache()
    result.seconds = round(time.monotonic() - started, 2)
    write_json(
        lake.run_dir(as_of) / "snapshot.json",
        {
            "as_of": as_of.isoformat(),
            **result.counts(),
            "pseudonym_key_fingerprint": fingerprint(key),
            "policy_hash": policy.digest(),
            "seconds": result.seconds,
        },
    )
    return result


def relink_lifecycle(spark: SparkSession, lake: Lake, policy: Policy, *, after: date, key: bytes) -> list[date]:
    """Re-derive the lifecycle of the published dates after `after`, oldest first, each
    against its own predecessor, and republish those whose lifecycle changed. Rules,
    index and profiles of those dates stay as computed. Stops at the first date whose
    lifecycle is unchanged: the dates after it cannot change either. Returns the dates
    republished."""
    outputs = _output_contracts()
    relinked = []
    for day in [d for d in lake.dates(ALERTS) if d > after]:
        current = lake.read(spark, RESTRICTED_ALERTS, day, outputs["restricted_alerts"].schema()).drop(
            *LIFECYCLE_COLUMNS
        )
        scored = lake.read(spark, HOUSEHOLD_PROFILE, day, outputs["household_profile"].schema()).select("household_key")
        alerts, resolved, previous_date = _lifecycle(spark, lake, outputs, current, scored, day, key, policy)
        staging = lake.staging()
        try:
            staged = _stage_lifecycle(alerts, resolved, outputs, staging)
            if _unchanged(spark, lake, staged, day):
                # A relink interrupted between publishing this date and refreshing its
                # manifest left the manifest listing the replaced files: refresh it now.
                refresh_outputs(lake.root, day, [t.id for t in (*LIFECYCLE_TABLES, *REPORT_TABLES)])
                break
            log.info("lifecycle of %s re-derived against %s", day, previous_date or "no earlier run")
            _publish_lifecycle(lake, staged, day)
            counts = publish_reports(lake, policy, day)  # its statuses changed
        finally:
            rmtree(staging)
        record = read_json(lake.run_dir(day) / "snapshot.json") or {"as_of": day.isoformat()}
        record.update(
            alerts_by_status=counts["alerts_by_status"],
            resolved=counts["resolved"],
            resolved_by_reason=counts["resolved_by_reason"],
            lifecycle_against=previous_date,
            lifecycle_relinked_after=after,
        )
        write_json(lake.run_dir(day) / "snapshot.json", record)
        # readers go by the manifest's file list
        refresh_outputs(lake.root, day, [t.id for t in (*LIFECYCLE_TABLES, *REPORT_TABLES)])
        relinked.append(day)
    return relinked


def _unchanged(spark: SparkSession, lake: Lake, staged: dict[str, Location], day: date) -> bool:
    """Whether the staged lifecycle of a date equals the published one."""
    for name, table in (("alerts", ALERTS), ("alert_resolutions", ALERT_RESOLUTIONS)):
        published = lake.path(table, day)
        if not published.exists():
            return False
        new, old = spark.read.parquet(str(staged[name])), spark.read.parquet(str(published))
        if new.columns != old.columns or not (new.exceptAll(old).isEmpty() and old.exceptAll(new).isEmpty()):
            return False
    return True


def _date_map(dates: dict[str, date]):
    """Each source's last delivery used for this snapshot (its staleness, for analysts)."""
    if not dates:
        return F.create_map().cast("map<string,date>")
    return F.create_map(*[x for name in sorted(dates) for x in (F.lit(name), F.lit(dates[name]))])
