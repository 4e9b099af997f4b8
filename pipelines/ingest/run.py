"""`lipmon ingest`: land every ready delivery dated on or before the run date that is not
landed yet, source by source (snapshot sources first), and write the ingest report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from pipelines.contracts import Contract
from pipelines.ingest.deliveries import find_deliveries
from pipelines.ingest.land import LandingResult, SourceLanding, is_unchanged, landed_record
from pipelines.lake import Lake, write_json
from pipelines.quality.gx_runner import build_data_docs
from pipelines.storage import local_copy
from pipelines.tables import SWAPPED_TABLES, source_tables

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    as_of: date
    results: list[LandingResult] = field(default_factory=list)
    quality: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failures(self) -> list[LandingResult]:
        return [r for r in self.results if r.status == "failed"]

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "seconds": self.seconds,
            "outcome": "failed" if self.failures else "succeeded",
            "deliveries": [r.to_dict() for r in self.results],
            "quality": self.quality,
        }


def ingest(
    spark: SparkSession, lake: Lake, landing: Path, contracts: dict[str, Contract], *, as_of: date, force: bool = False
) -> IngestReport:
    started = time.monotonic()
    report = IngestReport(as_of)
    # The caller holds the lake's lease: first put right what an interrupted run left.
    for restored in lake.recover((*source_tables(contracts), *SWAPPED_TABLES)):
        log.warning("restored %s, left aside by an interrupted run", restored)
    if left := lake.clear_staging():
        log.warning("removed %d unpublished staging folder(s) left by an interrupted run", len(left))
    run_dir = lake.run_dir(as_of)
    landed_any = False
    for contract in contracts.values():
        pending = []
        for delivery in find_deliveries(landing, contract, up_to=as_of):
            record = landed_record(lake, delivery)
            if record is not None and not force and is_unchanged(record, delivery):
                report.results.append(
                    LandingResult(
                        contract.name,
                        delivery.extract_date,
                        "skipped",
                        files=record["files"],
                        rows_read=record["rows_read"],
                        rows_kept=record["rows_kept"],
                        rows_quarantined=record["rows_quarantined"],
                        quarantined_by_reason=record.get("quarantined_by_reason", {}),
                    )
                )
                continue
            if record is not None and not force:
                log.info("%s: re-delivered since it was landed; landing it again", delivery.label)
            pending.append(delivery)
        skipped = sum(1 for r in report.results if r.source == contract.name)
        if skipped:
            log.info("%s: %d delivery(ies) already landed (--force lands them again)", contract.name, skipped)
        if not pending:
            continue
        log.info(
            "%s: landing %d delivery(ies), %s to %s",
            contract.name,
            len(pending),
            pending[0].extract_date,
            pending[-1].extract_date,
        )
        source_started = time.monotonic()
        landed_any = True
        results, quality = SourceLanding(spark, lake, contract, run_dir / "quality").land(pending)
        report.results.extend(results)
        if quality is not None:
            report.quality[contract.name] = quality
        elapsed = time.monotonic() - source_started
        if results[0].status == "landed":
            log.info(
                "%s: landed in %.1fs: read %d, kept %d, quarantined %d",
                contract.name,
                elapsed,
                sum(r.rows_read for r in results),
                sum(r.rows_kept for r in results),
                sum(r.rows_quarantined for r in results),
            )
        else:
            log.error("%s: failed after %.1fs: %s", contract.name, elapsed, results[0].error)
    if landed_any:
        # The quality gates kept their results (passed or failed); the night's Data Docs
        # are rendered once, for every source.
        with local_copy(run_dir / "quality" / "data_docs") as docs:  # GX writes local files only
            build_data_docs(docs)
    report.seconds = round(time.monotonic() - started, 2)
    write_json(run_dir / "ingest.json", report.to_dict())
    return report


def summary_lines(report: IngestReport) -> list[str]:
    """Per-source counts for the console."""
    lines = [f"{'source':<22}{'delivery':<12}{'status':<9}{'read':>11}{'kept':>11}{'quarantined':>13}"]
    for r in report.results:
        lines.append(
            f"{r.source:<22}{r.extract_date.isoformat():<12}{r.status:<9}"
            f"{r.rows_read:>11}{r.rows_kept:>11}{r.rows_quarantined:>13}"
        )
    by_source: dict[str, list[int]] = {}
    for r in report.results:
        totals = by_source.setdefault(r.source, [0, 0, 0])
        totals[0] += r.rows_read
        totals[1] += r.rows_kept
        totals[2] += r.rows_quarantined
    for source, (read, kept, bad) in by_source.items():
        lines.append(f"{source + ' (all)':<43}{read:>11}{kept:>11}{bad:>13}")
    return lines
