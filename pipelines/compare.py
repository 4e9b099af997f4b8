"""`lipmon compare`: are two lakes' outputs of a date the same, row for row?

For checking that a run elsewhere (a cluster, another configuration, a tuned setting)
produced exactly what a reference run did. Each partition of the date (the snapshot
tables, and bronze and quarantine of every delivery dated on or before it) is compared
as a multiset of rows with Spark, one aggregation per table, so it scales to a city.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.frames import local_frame
from pipelines.lake import Lake
from pipelines.storage import Location, relative
from pipelines.tables import SNAPSHOT_TABLES, Table, source_tables


@dataclass(frozen=True)
class PartitionDiff:
    partition: str
    rows_a: int
    rows_b: int
    only_in_a: int
    only_in_b: int

    @property
    def equal(self) -> bool:
        return self.rows_a == self.rows_b and not self.only_in_a and not self.only_in_b


def tables_of(lake: Lake, *, ingested: bool = True) -> list[Table]:
    """The tables compared: the snapshot outputs, and bronze and quarantine of every source
    landed in the lake."""
    if not ingested:
        return list(SNAPSHOT_TABLES)
    return [*SNAPSHOT_TABLES, *source_tables(lake.sources())]


def partitions_of(lake: Location, day: date, *, ingested: bool = True) -> list[str]:
    """The date's output partitions present in a lake, as paths relative to it: the
    snapshot tables' partition of the date, every delivery's partition dated on or before it."""
    found = []
    at = Lake(lake)
    for table in tables_of(at, ingested=ingested):
        days = [day] if table.partition == "snapshot_date" else [d for d in at.dates(table) if d <= day]
        found += [relative(at.path(table, d), lake) for d in days if at.path(table, d).is_dir()]
    return found


def _comparable(df: DataFrame) -> DataFrame:
    """Maps cannot be grouped in Spark: as arrays of entries sorted by key they can."""
    return df.select(
        [
            F.array_sort(F.map_entries(F.col(f.name))).alias(f.name)
            if isinstance(f.dataType, T.MapType)
            else F.col(f.name)
            for f in df.schema.fields
        ]
    )


def _read(spark: SparkSession, lake: Location, table: str, partitions: list[str]) -> DataFrame | None:
    paths = [str(lake / p) for p in partitions]
    return _comparable(spark.read.option("basePath", str(lake / table)).parquet(*paths)) if paths else None


def compare_table(
    spark: SparkSession, a: Location, b: Location, table: str, in_a: list[str], in_b: list[str]
) -> list[PartitionDiff]:
    """One table's partitions in one Spark job: rows of both lakes counted per distinct
    row and partition; a row counted differently on the two sides is a difference."""
    left, right = _read(spark, a, table, in_a), _read(spark, b, table, in_b)
    if left is None and right is None:
        return []
    if left is None:
        left = local_frame(spark, [], right.schema)  # type: ignore[union-attr]
    if right is None:
        right = local_frame(spark, [], left.schema)
    columns = sorted(left.columns)
    if columns != sorted(right.columns):
        raise ValueError(f"{table}: the columns differ: {sorted(set(columns) ^ set(right.columns))}")
    key = next(c for c in columns if c in ("snapshot_date", "extract_date"))
    both = (
        left.select(columns)
        .withColumn("_side", F.lit(1))
        .unionByName(right.select(columns).withColumn("_side", F.lit(-1)))
    )
    per_row = both.groupBy(*columns).agg(
        F.count(F.when(F.col("_side") == 1, 1)).alias("n_a"), F.count(F.when(F.col("_side") == -1, 1)).alias("n_b")
    )
    per_partition = (
        per_row.groupBy(key)
        .agg(
            F.sum("n_a").alias("rows_a"),
            F.sum("n_b").alias("rows_b"),
            F.sum(F.greatest(F.col("n_a") - F.col("n_b"), F.lit(0))).alias("only_a"),
            F.sum(F.greatest(F.col("n_b") - F.col("n_a"), F.lit(0))).alias("only_b"),
        )
        .collect()
    )
    found = {f"{table}/{key}={r[key]}": r for r in per_partition}
    return [
        PartitionDiff(
            p,
            *(
                (found[p]["rows_a"], found[p]["rows_b"], found[p]["only_a"], found[p]["only_b"])
                if p in found
                else (0, 0, 0, 0)
            ),
        )
        for p in sorted(set(in_a) | set(in_b))
    ]


def compare_lakes(
    spark: SparkSession, a: Location, b: Location, day: date, *, ingested: bool = True
) -> list[PartitionDiff]:
    """Every partition of the date in either lake; one missing from a lake counts as empty there."""
    in_a, in_b = partitions_of(a, day, ingested=ingested), partitions_of(b, day, ingested=ingested)
    tables = sorted({p.rsplit("/", 1)[0] for p in in_a + in_b})
    return [
        diff
        for table in tables
        for diff in compare_table(
            spark,
            a,
            b,
            table,
            [p for p in in_a if p.startswith(table + "/")],
            [p for p in in_b if p.startswith(table + "/")],
        )
    ]
