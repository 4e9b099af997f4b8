"""Point-in-time assembly: one row per key, the latest delivery on or before D winning."""

from __future__ import annotations

from datetime import date

from pyspark.sql import functions as F

from pipelines.contracts import load_contracts
from pipelines.profile.as_of import incremental_as_of, repeated_key_hashes
from pipelines.profile.window import months_before
from pipelines.settings import PROJECT_ROOT

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
D = date(2026, 11, 28)


def latest(df, *, broadcast: bool = True):
    contract = CONTRACTS["medical_settlements"]
    repeated = repeated_key_hashes(df, contract, D)
    return incremental_as_of(df, contract, D, F.broadcast(repeated) if broadcast else repeated)


def test_incremental_source_keeps_latest_delivery_per_key_and_ignores_later_ones(spark):
    rows = [
        ("S1", 100, date(2026, 10, 1)),
        ("S1", 120, date(2026, 11, 1)),
        ("S1", 999, date(2026, 12, 1)),
        ("S2", 50, date(2026, 10, 1)),
        ("S3", 70, date(2026, 12, 1)),  # only delivered after D
    ]
    df = spark.createDataFrame(rows, "settlement_id string, out_of_pocket int, extract_date date")
    got = latest(df).collect()
    assert sorted((r["settlement_id"], r["out_of_pocket"], r["extract_date"]) for r in got) == [
        ("S1", 120, date(2026, 11, 1)),
        ("S2", 50, date(2026, 10, 1)),
    ]


def test_income_window_is_the_twelve_whole_months_before_the_snapshot_month():
    assert months_before(date(2026, 11, 28), 12) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
        "2026-06",
        "2026-07",
        "2026-08",
        "2026-09",
        "2026-10",
    ]
    assert months_before(date(2026, 1, 1), 3) == ["2025-10", "2025-11", "2025-12"]


def test_many_redelivered_keys_are_joined_by_a_shuffle_with_the_same_result(spark, no_automatic_broadcast):
    rows = [(f"S{i}", i, date(2026, 10, 1)) for i in range(20)]
    rows += [(f"S{i}", 1000 + i, date(2026, 11, 1)) for i in range(0, 20, 2)]  # every other key redelivered
    df = spark.createDataFrame(rows, "settlement_id string, out_of_pocket int, extract_date date")
    expected = sorted((f"S{i}", 1000 + i if i % 2 == 0 else i) for i in range(20))
    for broadcast, join in ((True, "BroadcastHashJoin"), (False, "SortMergeJoin")):
        result = latest(df, broadcast=broadcast)
        result.collect()  # adaptive execution settles the final plan
        assert join in result._jdf.queryExecution().executedPlan().toString()
        assert sorted((r["settlement_id"], r["out_of_pocket"]) for r in result.collect()) == expected
