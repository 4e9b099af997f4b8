"""`lipmon ingest`: land every ready delivery dated on or before the run date that is not
landed yet, source by source (snapshot sources first), and write the ingest report."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from pipelines.contracts import Contract
from pipelines.ingest.deliveries import Delivery, find_deliveries
from pipelines.ingest.land import LandingResult, SourceLanding, StagedSource, is_unchanged, landed_record
from pipelines.lake import Lake, write_json
from pipelines.quality.gx_runner import build_data_docs
from pipelines.storage import local_copy
from pipelines.tables import SWAPPED_TABLES, source_tables

log = logging.getLogger(__name__)

# Sources staged at once on a small night, and what a night may deliver to count as small.
STAGING_THREADS = 2
CONCURRENT_BELOW_BYTES = 256 * 1024 * 1024


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
    pending = {}
    for contract in contracts.values():
        skipped, waiting = _sort_deliveries(lake, landing, contract, as_of, force)
        report.results.extend(skipped)
        if skipped:
            log.info("%s: %d delivery(ies) already landed (--force lands them again)", contract.name, len(skipped))
        if waiting:
            pending[contract.name] = waiting
    landings = {name: SourceLanding(spark, lake, contracts[name], run_dir / "quality") for name in pending}
    for name, results, quality in _land_all(landings, pending):
        report.results.extend(results)
        if quality is not None:
            report.quality[name] = quality
    landed_any = bool(pending)
    if landed_any:
        # The quality gates kept their results (passed or failed); the night's Data Docs
        # are rendered once, for every source.
        with local_copy(run_dir / "quality" / "data_docs") as docs:  # GX writes local files only
            build_data_docs(docs)
    report.seconds = round(time.monotonic() - started, 2)
    write_json(run_dir / "ingest.json", report.to_dict())
    return report


def _sort_deliveries(
    lake: Lake, landing: Path, contract: Contract, as_of: date, force: bool
) -> tuple[list[LandingResult], list[Delivery]]:
    """A source's deliveries up to `as_of`: the records of those landed already and
    unchanged (skipped), and the deliveries still to land."""
    skipped: list[LandingResult] = []
    waiting: list[Delivery] = []
    for delivery in find_deliveries(landing, contract, up_to=as_of):
        record = landed_record(lake, delivery)
        if record is not None and not force and is_unchanged(record, delivery):
            skipped.append(
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
        waiting.append(delivery)
    return skipped, waiting


def _land_all(
    landings: dict[str, SourceLanding], pending: dict[str, list[Delivery]]
) -> Iterator[tuple[str, list[LandingResult], dict | None]]:
    """Land every source with pending deliveries; yields each source's results in the
    contracts' order.

    A small night is bound by fixed costs per Spark job (planning, code generation, the
    driver between jobs), not by data: there, sources are staged (decoded, typed, checked,
    counted) by STAGING_THREADS threads ahead of the main thread, which runs each source's
    quality gate and publishes it, one source at a time and in order. A night delivering
    more than CONCURRENT_BELOW_BYTES is bound by data and memory instead, and lands one
    source at a time. The outputs are the same either way."""
    delivered = sum(f.get("bytes") or 0 for deliveries in pending.values() for d in deliveries for f in d.fingerprint())
    if delivered > CONCURRENT_BELOW_BYTES or len(pending) < 2:
        for name, deliveries in pending.items():
            _log_start(name, deliveries)
            yield name, *_finished(name, landings[name], landings[name].stage(deliveries))
        return
    pool = ThreadPoolExecutor(max_workers=STAGING_THREADS, thread_name_prefix="lipmon-stage")
    futures: dict[str, Future[StagedSource]] = {}
    for name, deliveries in pending.items():
        _log_start(name, deliveries)
        futures[name] = pool.submit(landings[name].stage, deliveries)
    finished: set[str] = set()
    try:
        for name, future in futures.items():
            staged = future.result()
            finished.add(name)
            yield name, *_finished(name, landings[name], staged)
    finally:
        # On a failure (a full disk, an interrupt) nothing staged but unfinished is kept.
        pool.shutdown(wait=True, cancel_futures=True)
        for name, future in futures.items():
            if name not in finished and future.done() and not future.cancelled() and future.exception() is None:
                future.result().discard()


def _log_start(name: str, deliveries: list[Delivery]) -> None:
    first, last = deliveries[0].extract_date, deliveries[-1].extract_date
    log.info("%s: landing %d delivery(ies), %s to %s", name, len(deliveries), first, last)


def _finished(name: str, landing: SourceLanding, staged: StagedSource) -> tuple[list[LandingResult], dict | None]:
    results, quality = landing.finish(staged)
    elapsed = time.monotonic() - staged.started
    if results[0].status == "landed":
        log.info(
            "%s: landed in %.1fs: read %d, kept %d, quarantined %d",
            name,
            elapsed,
            sum(r.rows_read for r in results),
            sum(r.rows_kept for r in results),
            sum(r.rows_quarantined for r in results),
        )
    else:
        log.error("%s: failed after %.1fs: %s", name, elapsed, results[0].error)
    return results, quality


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
