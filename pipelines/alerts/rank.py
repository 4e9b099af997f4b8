"""Exact ranks over millions of households without pulling them into one task.

A global sort range-partitions the rows; within a sorted partition rows keep their order
and monotonically_increasing_id counts them consecutively. A small per-partition
aggregate (one row per partition, added up on the driver) turns that into global positions, and a small
per-scope aggregate into ranks within each scope (the city, or each county).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.frames import CACHE_LEVEL, local_frame


def rank_within_scope(
    df: DataFrame, scope: str, order: list, *, cache: bool = False, held: list[DataFrame] | None = None
) -> DataFrame:
    """Add `rank` (1 = first by `order` within `scope`) and `scope_size`. `order` must be a
    total order (end with a unique column) so that ranks are exact and reproducible.
    `cache`: the global sort samples its input to choose its ranges, then reads it again;
    cached, the plan beneath (a city's profiles) is computed once, not twice. The sorted
    rows are cached (read twice); `held` receives them, for the caller to release once
    what reads them is computed (else the session's clearCache releases them)."""
    source = df.persist(CACHE_LEVEL) if cache else df
    positioned = (
        source.orderBy(F.col(scope), *order)
        .select("*", F.spark_partition_id().alias("_part"), F.monotonically_increasing_id().alias("_row"))
        .persist(CACHE_LEVEL)
    )
    if held is not None:
        held.append(positioned)
    # One row per partition (a few dozen): small enough to add up on the driver.
    parts = sorted(
        positioned.groupBy("_part").agg(F.count(F.lit(1)).alias("n"), F.min("_row").alias("first")).collect()
    )
    if cache:
        source.unpersist()  # the sorted copy holds the rows from here on
    offsets_rows, before = [], 0
    for part in parts:
        offsets_rows.append((part["_part"], part["first"], before))
        before += part["n"]
    offsets = local_frame(df.sparkSession, offsets_rows, "_part int, _first_row long, _before long")
    with_position = positioned.join(F.broadcast(offsets), on="_part", how="inner").select(
        "*", (F.col("_before") + F.col("_row") - F.col("_first_row")).alias("_position")
    )
    scopes = with_position.groupBy(scope).agg(
        F.min("_position").alias("_scope_start"), F.count(F.lit(1)).alias("scope_size")
    )
    return with_position.join(F.broadcast(scopes), on=scope, how="inner").select(
        *df.columns, (F.col("_position") - F.col("_scope_start") + 1).alias("rank"), "scope_size"
    )
