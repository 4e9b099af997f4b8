"""Computing a snapshot date end to end: point-in-time inputs from bronze, profiles,
hardship index, alert rules and lifecycle, and publishing the gold and restricted
tables. The IO shell around the pure transforms in profile/, index/ and alerts/."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.alerts.lifecycle import with_lifecycle
from pipelines.alerts.rules import apply_rules
from pipelines.contracts import Contract
from pipelines.contracts.derive import bronze_schema
from pipelines.contracts.outputs import OutputContract, conform, load_output_contract
from pipelines.index.hardship import score
from pipelines.lake import Lake, checkpoint, publish, write_json
from pipelines.policy import ConfigError, Policy
from pipelines.profile.as_of import incremental_as_of
from pipelines.profile.household import household_profiles, standards_table
from pipelines.profile.window import Windows
from pipelines.pseudonym import fingerprint, hmac_sha256_hex
from pipelines.settings import PROJECT_ROOT

log = logging.getLogger(__name__)
OUTPUTS = PROJECT_ROOT / "schemas" / "outputs"


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
    inputs: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


def _bronze(spark: SparkSession, lake: Lake, contract: Contract, dates: list[date]) -> DataFrame:
    """Bronze partitions read with their explicit schema and their extract_date."""
    schema = bronze_schema(contract)
    frames = [spark.read.schema(schema).parquet(str(lake.bronze(contract.name, d))).withColumn("extract_date", F.lit(d))
              for d in dates]
    if not frames:
        return spark.createDataFrame([], schema).withColumn("extract_date", F.lit(None).cast("date"))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def read_inputs(spark: SparkSession, lake: Lake, contracts: dict[str, Contract], as_of: date,
                result: SnapshotResult) -> dict[str, DataFrame]:
    """Each source as of the snapshot date: the latest snapshot, or the incremental union."""
    inputs = {}
    for name, contract in contracts.items():
        dates = [d for d in lake.partitions("bronze", name, "extract_date") if d <= as_of]
        if contract.delivery.mode == "snapshot":
            if not dates:
                raise MissingInput(f"no {name} delivery landed on or before {as_of}")
            dates = dates[-1:]
            inputs[name] = _bronze(spark, lake, contract, dates)
        else:
            inputs[name] = incremental_as_of(_bronze(spark, lake, contract, dates), contract, as_of)
        result.inputs[name] = [d.isoformat() for d in dates]
    return inputs


def _write(df: DataFrame, contract: OutputContract, staging: Path) -> Path:
    staged = staging / contract.zone / contract.name
    conform(df, contract).write.parquet(str(staged))
    return staged


def _previous_alerts(spark: SparkSession, lake: Lake, contract: OutputContract, as_of: date) -> DataFrame | None:
    earlier = [d for d in lake.partitions("gold", "alerts", "snapshot_date") if d < as_of]
    if not earlier:
        return None
    return spark.read.schema(contract.schema()).parquet(str(lake.table("gold", "alerts", earlier[-1])))


def build_snapshot(spark: SparkSession, lake: Lake, contracts: dict[str, Contract], policy: Policy,
                   *, as_of: date, key: bytes, data_as_of: dict[str, date] | None = None) -> SnapshotResult:
    started = time.monotonic()
    result = SnapshotResult(as_of)
    outputs = {n: load_output_contract(OUTPUTS / f"{n}.yaml") for n in ("household_profile", "alerts", "restricted_alerts")}
    standards = standards_table(spark, policy, as_of)   # fails here, before any work, on a gap
    inputs = read_inputs(spark, lake, contracts, as_of, result)
    log.info("snapshot %s: inputs %s; computing profiles, index and alerts", as_of,
             {name: f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else dates for name, dates in result.inputs.items()})
    windows = Windows.of(as_of, policy.index)
    profiles = household_profiles(inputs["residents"], inputs["social_security"], inputs["medical_settlements"],
                                  standards, policy, windows)
    scored = (
        apply_rules(score(profiles, policy), policy)
        .withColumn("household_key", hmac_sha256_hex(F.col("household_id"), key))
        .withColumn("data_as_of", _date_map(data_as_of or {}))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    unpriced = [r["county_code"] for r in scored.where(F.col("dibao_standard").isNull())
                .select("county_code").distinct().limit(5).collect()]
    if unpriced:
        raise ConfigError(f"no dibao standard in force on {as_of} for county {', '.join(sorted(unpriced))}")
    alerts = with_lifecycle(scored.where(F.size("rules") > 0), _previous_alerts(spark, lake, outputs["alerts"], as_of),
                            as_of).persist(StorageLevel.MEMORY_AND_DISK)
    staging = lake.staging()
    try:
        log.info("snapshot %s: writing household profiles and alerts", as_of)
        staged = {
            "household_profile": _write(scored, outputs["household_profile"], staging),
            "alerts": _write(alerts, outputs["alerts"], staging),
            "restricted_alerts": _write(alerts, outputs["restricted_alerts"], staging),
        }
        published = spark.read.parquet(str(staged["alerts"]))
        result.households = spark.read.parquet(str(staged["household_profile"])).count()
        result.alerts = published.count()
        result.alerts_by_rule = _count_exploded(published, "rules")
        result.alerts_by_category = _count_exploded(published, "categories")
        result.alerts_by_status = {r["status"]: r["n"] for r in
                                   published.groupBy("status").agg(F.count(F.lit(1)).alias("n")).collect()}
        log.info("snapshot %s: %d households, %d alerts; publishing", as_of, result.households, result.alerts)
        # Restricted first, analyst tables after: never an analyst alert without its caseworker copy.
        publish(staged["restricted_alerts"], lake.table("restricted", "alerts", as_of))
        checkpoint("snapshot:between-tables")
        publish(staged["alerts"], lake.table("gold", "alerts", as_of))
        publish(staged["household_profile"], lake.table("gold", "household_profile", as_of))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        scored.unpersist()
        alerts.unpersist()
        spark.catalog.clearCache()
    result.seconds = round(time.monotonic() - started, 2)
    write_json(lake.run_dir(as_of) / "snapshot.json", {
        "as_of": as_of.isoformat(),
        "inputs": result.inputs,
        "households": result.households,
        "alerts": result.alerts,
        "alerts_by_rule": result.alerts_by_rule,
        "alerts_by_category": result.alerts_by_category,
        "alerts_by_status": result.alerts_by_status,
        "pseudonym_key_fingerprint": fingerprint(key),
        "policy_hash": policy.digest(),
        "seconds": result.seconds,
    })
    return result


def _date_map(dates: dict[str, date]):
    """Each source's last delivery used for this snapshot (its staleness, for analysts)."""
    if not dates:
        return F.create_map().cast("map<string,date>")
    return F.create_map(*[x for name in sorted(dates) for x in (F.lit(name), F.lit(dates[name]))])


def _count_exploded(df: DataFrame, column: str) -> dict[str, int]:
    rows = df.select(F.explode(column).alias("v")).groupBy("v").agg(F.count(F.lit(1)).alias("n")).collect()
    return {r["v"]: r["n"] for r in sorted(rows, key=lambda r: r["v"])}
