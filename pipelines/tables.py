"""Every table lipmon writes, declared once: its zone, name, partition column, file format
and contract. The lake (pipelines.lake) turns a table and a date into a place; reading,
staging, publishing, recovery, the manifest's file lists and `lipmon compare` all go by
these declarations, so adding a table is one entry here (and its contract)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Zone = Literal["bronze", "quarantine", "gold", "restricted"]
Format = Literal["parquet", "json", "jsonl"]


@dataclass(frozen=True)
class Table:
    """One partitioned table of the lake: `<zone>/<name>/<partition>=<date>/`.

    `contract`: the output contract (`schemas/outputs/<contract>.yaml`) of a published
    table, or the source contract of bronze and quarantine. `format`: how its files
    are written (Parquet, or JSON Lines for the push). `lifecycle`: rewritten when the alert
    lifecycle of a date is re-derived. The snapshot step's outputs (SNAPSHOT_TABLES below)
    are listed in the run manifest's `outputs` and compared by `lipmon compare`."""

    zone: Zone
    name: str
    partition: Literal["extract_date", "snapshot_date"]
    contract: str | None = None
    format: Format = "parquet"
    lifecycle: bool = False

    @property
    def id(self) -> str:
        """`zone/name`, as the manifest and readers name the table."""
        return f"{self.zone}/{self.name}"

    def __str__(self) -> str:
        return self.id


# The snapshot step's outputs, in the order the manifest lists them.
HOUSEHOLD_PROFILE = Table("gold", "household_profile", "snapshot_date", "household_profile")
ALERTS = Table("gold", "alerts", "snapshot_date", "alerts", lifecycle=True)
ALERT_RESOLUTIONS = Table("gold", "alert_resolutions", "snapshot_date", "alert_resolutions", lifecycle=True)
RESTRICTED_ALERTS = Table("restricted", "alerts", "snapshot_date", "restricted_alerts", lifecycle=True)
ROLL_EXCEPTIONS = Table("restricted", "roll_exceptions", "snapshot_date", "roll_exceptions")
# What the bureau sees (pipelines.report): computed from the published profile and alerts
# after the snapshot step, and again whenever the alerts' lifecycle of the date is re-derived.
STATISTICS = Table("gold", "statistics", "snapshot_date", "statistics")
TREND = Table("gold", "trend", "snapshot_date", "trend")
REPORT_TABLES: tuple[Table, ...] = (STATISTICS, TREND)
# The push: messages waiting (one JSON Lines partition a date, written by Spark) and the
# ledger of messages delivered (appended one file per batch). The outbox sink's folder is
# configurable (policy `push.outbox.folder`) and is not a table of the lake's own.
PUSH_QUEUE = Table("restricted", "push_queue", "snapshot_date", "alert_message", format="json")
PUSH_LEDGER = Table("restricted", "push_ledger", "snapshot_date", format="jsonl")

SNAPSHOT_TABLES: tuple[Table, ...] = (HOUSEHOLD_PROFILE, ALERTS, ALERT_RESOLUTIONS, RESTRICTED_ALERTS, ROLL_EXCEPTIONS)
PUSH_TABLES: tuple[Table, ...] = (PUSH_QUEUE, PUSH_LEDGER)
LIFECYCLE_TABLES: tuple[Table, ...] = tuple(t for t in SNAPSHOT_TABLES if t.lifecycle)
# Published whole by a swap of partitions (the ledger is appended to, never swapped).
SWAPPED_TABLES: tuple[Table, ...] = (*SNAPSHOT_TABLES, *REPORT_TABLES, PUSH_QUEUE)


# The zones that hold one table per source.
SOURCE_ZONES: tuple[Zone, ...] = ("bronze", "quarantine")


# In each bronze partition: what was landed (files, counts), written by the landing.
DELIVERY_RECORD = "_delivery.json"


def bronze_table(source: str) -> Table:
    """A source's kept rows, typed by its contract, one partition per delivery."""
    return Table("bronze", source, "extract_date", source)


def quarantine_table(source: str) -> Table:
    """A source's bad rows with their reasons, one partition per delivery."""
    return Table("quarantine", source, "extract_date", source)


def source_tables(sources: Iterable[str]) -> tuple[Table, ...]:
    return tuple(t for s in sorted(sources) for t in (bronze_table(s), quarantine_table(s)))


def snapshot_table(table_id: str) -> Table:
    """A snapshot output by its `zone/name`; a clear error for any other name."""
    for table in (*SNAPSHOT_TABLES, *REPORT_TABLES):
        if table.id == table_id:
            return table
    known = ", ".join(t.id for t in (*SNAPSHOT_TABLES, *REPORT_TABLES))
    raise ValueError(f"unknown table {table_id!r}; published tables: {known}")
