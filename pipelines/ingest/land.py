"""Landing a source's pending deliveries in one pass: decode and check their files, type
and check every row, write bronze and quarantine aside, run the quality gate, then
publish each delivery's partitions.

Nothing of a source is published unless every delivery decodes, every row is accounted
for (rows read = rows kept + rows quarantined, per delivery) and no critical expectation
failed: a failure stops that source, never the other sources.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.contracts import Contract
from pipelines.contracts.derive import bronze_schema, partitioned_schema, quarantine_schema
from pipelines.frames import local_frame
from pipelines.ingest.decode import CheckedFile, DeliveryError, check_and_decode, column_positions
from pipelines.ingest.deliveries import Delivery
from pipelines.ingest.lines import read_numbered_lines
from pipelines.ingest.rows import check_rows, duplicate_keys, flag_duplicates
from pipelines.lake import Lake, checkpoint, read_json, write_json
from pipelines.quality import QualityGateFailed
from pipelines.quality.expectations import (
    answered_by_row_checks,
    expectation_suite,
    kept_rows_expectation,
    row_check_outcome,
    with_group_disagreement,
    with_orphan_flag,
    with_row_count_change,
)
from pipelines.quality.gx_runner import ExpectationSpec, validate_dataframe
from pipelines.spark import broadcast_if_small
from pipelines.storage import Location, local_copy, rmtree
from pipelines.tables import DELIVERY_RECORD, bronze_table, quarantine_table

log = logging.getLogger(__name__)


class AccountingError(RuntimeError):
    """Rows read differ from rows kept + rows quarantined: something would be lost."""


@dataclass
class LandingResult:
    source: str
    extract_date: date
    status: str  # landed | skipped | failed
    files: list[dict] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StagedSource:
    """One source's pending deliveries after staging: their counts, and where the typed and
    checked rows wait for the quality gate (`outputs` is None once the landing failed)."""

    deliveries: list[Delivery]
    results: dict[date, LandingResult]
    folder: Location
    started: float
    outputs: dict[str, Location] | None = None

    def fail(self, exc: Exception) -> None:
        self.outputs = None
        for r in self.results.values():
            r.status, r.error = "failed", str(exc)

    def discard(self) -> None:
        rmtree(self.folder)


def to_bronze(rows: DataFrame, contract: Contract) -> DataFrame:
    """Kept rows in the bronze schema, with the contract's descriptions as column metadata."""
    schema = bronze_schema(contract)
    return rows.where(F.size("reasons") == 0).select(
        *[F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in schema.fields],
        "extract_date",
    )


def to_quarantine(rows: DataFrame) -> DataFrame:
    return rows.where(F.size("reasons") > 0).select(*[f.name for f in quarantine_schema().fields], "extract_date")


def _counts_by_date(df: DataFrame) -> dict[date, int]:
    return {r["extract_date"]: r["n"] for r in df.groupBy("extract_date").agg(F.count(F.lit(1)).alias("n")).collect()}


class SourceLanding:
    """The IO shell around the transforms for one source and its pending deliveries."""

    def __init__(self, spark: SparkSession, lake: Lake, contract: Contract, quality_dir: Location):
        self.spark, self.lake, self.contract, self.quality_dir = spark, lake, contract, quality_dir

    def stage(self, deliveries: list[Delivery]) -> StagedSource:
        """Decode, type, check and count every row into staging. Reads no published table
        and publishes nothing, so that several sources may be staged at once."""
        staged = StagedSource(
            deliveries,
            {
                d.extract_date: LandingResult(self.contract.name, d.extract_date, "failed", files=d.fingerprint())
                for d in deliveries
            },
            self.lake.staging(),
            started=time.monotonic(),
        )
        try:
            checked = self._decode(deliveries, staged.folder / "text", staged.results)
            staged.outputs = self._write_staged(checked, staged.folder)
            self._account(staged.outputs, staged.results)
        except (DeliveryError, AccountingError) as exc:
            staged.fail(exc)
        except BaseException:
            staged.discard()
            raise
        return staged

    def finish(self, staged: StagedSource) -> tuple[list[LandingResult], dict | None]:
        """The quality gate over the staged rows, then publishing each delivery. Gates run
        one source at a time, in the contracts' order: a source's orphan check reads the
        registry published before it."""
        quality = None
        try:
            if staged.outputs is not None:
                quality = self._quality_gate(staged.outputs, staged.deliveries, staged.results)
                self._publish(staged.outputs, staged.deliveries, staged.results)
        except (QualityGateFailed, AccountingError) as exc:
            staged.fail(exc)
        finally:
            staged.discard()
        return list(staged.results.values()), quality

    def _decode(
        self, deliveries: list[Delivery], text_dir: Location, results: dict[date, LandingResult]
    ) -> dict[date, list[CheckedFile]]:
        """Check every delivered file; files in another encoding are transcoded into
        `text_dir` in staging (written locally, then copied there, where the lake is remote)."""
        checked: dict[date, list[CheckedFile]] = {}
        with local_copy(text_dir, fetch=False) as local:
            for d in deliveries:
                if not d.files:
                    raise DeliveryError(f"{d.folder}: no files matching {self.contract.delivery.files}")
                files = [check_and_decode(f, self.contract, local / d.extract_date.isoformat()) for f in d.files]
                if len({f.header for f in files}) > 1:
                    raise DeliveryError(f"{d.folder}: the files of one delivery have different headers")
                checked[d.extract_date] = files
                results[d.extract_date].rows_read = sum(f.data_lines for f in files)
                for entry, f in zip(results[d.extract_date].files, files):
                    entry["data_lines"] = f.data_lines
        if local == text_dir:
            return checked
        return {
            day: [
                replace(f, readable_path=text_dir / f.readable_path.relative_to(local).as_posix())
                if isinstance(f.readable_path, Path) and f.readable_path.is_relative_to(local)
                else f
                for f in files
            ]
            for day, files in checked.items()
        }

    def _write_staged(self, checked: dict[date, list[CheckedFile]], staging: Location) -> dict[str, Location]:
        """Type and check every row, find the duplicate keys, then write kept and bad rows aside."""
        by_header: dict[tuple, list[str]] = {}
        for files in checked.values():
            by_header.setdefault(files[0].header, []).extend(str(f.readable_path) for f in files)
        frames = []
        for header, paths in by_header.items():  # deliveries may order their columns differently
            lines = read_numbered_lines(self.spark, paths).where(F.col("line_number") > 1)
            frames.append(check_rows(lines, self.contract, column_positions(header, self.contract)))
        rows = frames[0]
        for frame in frames[1:]:
            rows = rows.unionByName(frame)
        staged = {
            "checked": staging / "checked",
            "bronze": staging / "bronze",
            "quarantine": staging / "quarantine",
            "duplicates": staging / "duplicates",
            "validated": staging / "validated",
        }
        # The delivered text is read, split and typed once, into staging: the duplicate
        # keys and the kept and bad rows are then read from there (a few columns each)
        # instead of checking every line again, or holding them all in memory.
        rows.write.parquet(str(staged["checked"]))
        checked_rows = self.spark.read.parquet(str(staged["checked"]))
        # The keys delivered twice are few: staged first, then broadcast to every row.
        duplicate_keys(checked_rows).write.parquet(str(staged["duplicates"]))
        duplicates = broadcast_if_small(self.spark.read.parquet(str(staged["duplicates"])))
        flagged = flag_duplicates(checked_rows, duplicates)
        to_bronze(flagged, self.contract).write.partitionBy("extract_date").parquet(str(staged["bronze"]))
        to_quarantine(flagged).write.partitionBy("extract_date").parquet(str(staged["quarantine"]))
        return staged

    def _read_staged(self, path: Location, schema: T.StructType) -> DataFrame:
        """Staged output with its explicit schema (an empty output has no files to infer from)."""
        return self.spark.read.schema(partitioned_schema(schema, "extract_date")).parquet(str(path))

    def _account(self, staged: dict[str, Location], results: dict[date, LandingResult]) -> None:
        kept = _counts_by_date(self._read_staged(staged["bronze"], bronze_schema(self.contract)))
        bad_rows = self._read_staged(staged["quarantine"], quarantine_schema())
        bad = _counts_by_date(bad_rows)
        reasons = (
            bad_rows.select("extract_date", F.explode("reasons").alias("reason"))
            .groupBy("extract_date", "reason")
            .agg(F.count(F.lit(1)).alias("n"))
            .collect()
        )
        for r in reasons:
            results[r["extract_date"]].quarantined_by_reason[r["reason"]] = r["n"]
        for d, result in results.items():
            result.rows_kept, result.rows_quarantined = kept.get(d, 0), bad.get(d, 0)
            result.quarantined_by_reason = dict(sorted(result.quarantined_by_reason.items()))
            if result.rows_read != result.rows_kept + result.rows_quarantined:
                raise AccountingError(
                    f"{self.contract.name}/{d}: rows read {result.rows_read} != kept {result.rows_kept} "
                    f"+ quarantined {result.rows_quarantined}"
                )

    def _quality_gate(
        self, staged: dict[str, Location], deliveries: list[Delivery], results: dict[date, LandingResult]
    ) -> dict:
        contract, lake = self.contract, self.lake
        bronze = self._read_staged(staged["bronze"], bronze_schema(contract))
        newest = max(d.extract_date for d in deliveries)
        reference = None
        if contract.quality.orphan_rate is not None:
            registry = bronze_table(contract.quality.orphan_rate.reference)
            ref_dates = [d for d in lake.dates(registry) if d <= newest]
            if ref_dates:
                reference = lake.read(self.spark, registry, ref_dates[-1])
        change = self._row_count_change(results) if contract.quality.row_count_change else {}
        same = contract.quality.same_within
        specs = expectation_suite(contract, orphans_checked=reference is not None, row_count_checked=bool(change))
        # What the row checks guarantee is answered from their counts, not scanned again.
        answered = {s.label: answered_by_row_checks(s, contract) for s in specs}
        kept = sum(r.rows_kept for r in results.values())
        scanned = [s for s in specs if answered[s.label] is None] + [kept_rows_expectation(kept)]
        validated = bronze
        if reference is not None or change or same:
            # The suite runs one Spark job per expectation: the join with the registry (and
            # the other flags) is done once, into staging, rather than once per expectation,
            # and carries only the columns the scanned expectations read (every column of a
            # year of payments would be shuffled and written again for a flag).
            if reference is not None and contract.quality.orphan_rate is not None:
                validated = with_orphan_flag(validated, contract.quality.orphan_rate.column, reference)
            if change:
                validated = with_row_count_change(validated, change)
            if same is not None:
                validated = with_group_disagreement(validated, same.column, same.group)
            validated = validated.select(*columns_read_by(scanned, validated.columns))
            validated.write.parquet(str(staged["validated"]))
            validated = self.spark.read.parquet(str(staged["validated"]))
        # `validated` is a plain scan of staged Parquet: rescanning a column per expectation
        # is cheaper than caching every column first. The gate reports counts and rates,
        # no example values: the row checks have already quarantined bad rows (with their
        # reasons), and an example of a duplicated key would be a person's ID number.
        with local_copy(self.quality_dir / "data_docs") as docs:  # GX writes local files only
            outcome = validate_dataframe(validated, contract.name, scanned, docs_dir=docs, examples=0, cache=False)
        quarantined: Counter[str] = Counter()
        for r in results.values():
            quarantined.update(r.quarantined_by_reason)
        outcome.outcomes[:0] = [
            row_check_outcome(s, kept, sum(quarantined[r] for r in reasons))
            for s in specs
            if (reasons := answered[s.label]) is not None
        ]
        if outcome.critical_failures:
            names = "; ".join(o.name for o in outcome.critical_failures)
            raise QualityGateFailed(f"{contract.name}: critical expectations failed: {names}")
        return outcome.to_dict()

    def _row_count_change(self, results: dict[date, LandingResult]) -> dict[date, float]:
        """Each new delivery's kept rows (counted once, in _account) divided by those of the
        delivery before it."""
        counts = {d: r.rows_kept for d, r in results.items()}
        earlier = [d for d in self.lake.dates(bronze_table(self.contract.name)) if d < min(counts, default=date.max)]
        previous = None
        if earlier:
            record = read_json(self.lake.path(bronze_table(self.contract.name), earlier[-1]) / DELIVERY_RECORD) or {}
            previous = record.get("rows_kept")
        change = {}
        for d in sorted(counts):
            if previous:
                change[d] = counts[d] / previous
            previous = counts[d]
        return change

    def _publish(
        self, staged: dict[str, Location], deliveries: list[Delivery], results: dict[date, LandingResult]
    ) -> None:
        schema = bronze_schema(self.contract)
        for d in deliveries:
            part = f"extract_date={d.extract_date.isoformat()}"
            bronze_part = staged["bronze"] / part
            if not bronze_part.exists():  # every row of this delivery was quarantined
                local_frame(self.spark, [], schema).write.parquet(str(bronze_part))
            result = results[d.extract_date]
            write_json(
                bronze_part / DELIVERY_RECORD,
                {k: v for k, v in result.to_dict().items() if k not in ("status", "error")},
            )
            quarantine_part = staged["quarantine"] / part
            if quarantine_part.exists():
                self.lake.publish(quarantine_part, quarantine_table(self.contract.name), d.extract_date)
            else:
                self.lake.remove(quarantine_table(self.contract.name), d.extract_date)
            # The bronze partition, holding the delivery record, is published last.
            self.lake.publish(bronze_part, bronze_table(self.contract.name), d.extract_date)
            result.status = "landed"
            checkpoint("ingest:after-a-delivery")


def columns_read_by(specs: list[ExpectationSpec], columns: list[str]) -> list[str]:
    """The columns of `columns` that the expectations read, with the delivery date (in the
    order of `columns`)."""
    wanted = {"extract_date"}.union(*(spec.columns for spec in specs))
    return [c for c in columns if c in wanted]


def landed_record(lake: Lake, delivery: Delivery) -> dict | None:
    """What was recorded when this delivery was last landed, if it was."""
    return read_json(lake.path(bronze_table(delivery.source), delivery.extract_date) / DELIVERY_RECORD)


def is_unchanged(record: dict, delivery: Delivery) -> bool:
    """Whether the delivery folder still holds exactly the files that were landed."""
    landed = [{k: f.get(k) for k in ("file", "bytes", "mtime_ns")} for f in record.get("files", [])]
    return landed == delivery.fingerprint()
