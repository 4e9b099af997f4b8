"""The registry of tables (pipelines.tables) and the lake that places them: every published
table agrees with its output contract, paths and partition dates come from the registry,
recovery and `lipmon compare`'s partition list go by it. No Spark needed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.compare import partitions_of
from pipelines.contracts.outputs import output_contract
from pipelines.lake import Lake
from pipelines.published import PUBLISHED_TABLES
from pipelines.tables import (
    ALERTS,
    LIFECYCLE_TABLES,
    PUSH_LEDGER,
    PUSH_QUEUE,
    RESTRICTED_ALERTS,
    SNAPSHOT_TABLES,
    bronze_table,
    quarantine_table,
    snapshot_table,
    source_tables,
)

D1, D2, D3 = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)


@pytest.mark.parametrize("table", [*SNAPSHOT_TABLES, PUSH_QUEUE], ids=str)
def test_each_published_table_agrees_with_its_output_contract(table):
    contract = output_contract(table.contract)
    if table is PUSH_QUEUE:  # the queue holds messages: the message contract, in the restricted zone
        assert (contract.zone, table.zone) == ("restricted", "restricted")
    else:
        assert (contract.zone, contract.partition) == (table.zone, table.partition)


def test_tables_are_named_once_and_lifecycle_tables_are_snapshot_tables():
    ids = [t.id for t in (*SNAPSHOT_TABLES, PUSH_QUEUE, PUSH_LEDGER)]
    assert len(ids) == len(set(ids))
    assert PUBLISHED_TABLES == (
        "gold/household_profile",
        "gold/alerts",
        "gold/alert_resolutions",
        "restricted/alerts",
        "restricted/roll_exceptions",
        "gold/statistics",
        "gold/trend",
    )
    assert set(LIFECYCLE_TABLES) == {ALERTS, RESTRICTED_ALERTS, snapshot_table("gold/alert_resolutions")}
    with pytest.raises(ValueError, match="unknown table 'gold/nope'; published tables: gold/household_profile"):
        snapshot_table("gold/nope")


def test_source_tables_are_bronze_and_quarantine_per_source_partitioned_by_delivery():
    assert [t.id for t in source_tables(["social_security", "residents"])] == [
        "bronze/residents",
        "quarantine/residents",
        "bronze/social_security",
        "quarantine/social_security",
    ]
    assert {bronze_table("x").partition, quarantine_table("x").partition} == {"extract_date"}


def test_the_lake_places_a_table_and_lists_only_its_dated_partitions(tmp_path: Path):
    lake = Lake(tmp_path)
    assert lake.path(ALERTS, D1) == tmp_path / "gold" / "alerts" / "snapshot_date=2026-11-27"
    assert lake.path(bronze_table("residents"), D2) == tmp_path / "bronze" / "residents" / "extract_date=2026-11-28"
    for day in (D2, D1):
        lake.path(ALERTS, day).mkdir(parents=True)
    (lake.path(ALERTS) / "snapshot_date=not-a-date").mkdir()
    (lake.path(ALERTS) / ".retired-snapshot_date=2026-11-29-abcd1234").mkdir()
    (lake.path(ALERTS) / "snapshot_date=2026-11-30").write_text("a file, not a partition")
    assert lake.dates(ALERTS) == [D1, D2]
    assert lake.dates(RESTRICTED_ALERTS) == []


def test_recovery_goes_by_the_registry(tmp_path: Path):
    lake = Lake(tmp_path)
    aside = lake.path(RESTRICTED_ALERTS) / f".retired-snapshot_date={D3}-abcd1234"
    aside.mkdir(parents=True)
    (aside / "part-0.parquet").write_bytes(b"old")
    leftover = lake.path(ALERTS) / f".retired-snapshot_date={D1}-abcd1234"
    leftover.mkdir(parents=True)
    lake.path(ALERTS, D1).mkdir()
    restored = lake.recover(SNAPSHOT_TABLES)
    assert restored == [lake.path(RESTRICTED_ALERTS, D3)]
    assert (lake.path(RESTRICTED_ALERTS, D3) / "part-0.parquet").read_bytes() == b"old"
    assert not leftover.exists() and lake.path(ALERTS, D1).is_dir()


def test_compare_lists_the_snapshot_partitions_of_the_date_and_deliveries_up_to_it(tmp_path: Path):
    lake = Lake(tmp_path)
    for table, day in (
        (ALERTS, D2),
        (ALERTS, D1),
        (RESTRICTED_ALERTS, D2),
        (PUSH_QUEUE, D2),
        (bronze_table("residents"), D1),
        (bronze_table("residents"), D3),
        (quarantine_table("residents"), D2),
    ):
        lake.path(table, day).mkdir(parents=True)
    assert partitions_of(tmp_path, D2) == [
        "gold/alerts/snapshot_date=2026-11-28",
        "restricted/alerts/snapshot_date=2026-11-28",
        "bronze/residents/extract_date=2026-11-27",
        "quarantine/residents/extract_date=2026-11-28",
    ]
    assert partitions_of(tmp_path, D2, ingested=False) == [
        "gold/alerts/snapshot_date=2026-11-28",
        "restricted/alerts/snapshot_date=2026-11-28",
    ]


def test_reading_a_table_as_parquet_is_refused_for_one_written_as_json(tmp_path: Path):
    with pytest.raises(ValueError, match="restricted/push_queue is written as json, not Parquet"):
        Lake(tmp_path).read(None, PUSH_QUEUE, D1)  # refused before Spark is asked anything
