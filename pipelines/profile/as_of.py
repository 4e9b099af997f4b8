"""Point-in-time assembly of the landed sources for snapshot date D: a snapshot source is
its latest delivery dated on or before D; an incremental source is the union of its
deliveries up to D with one row per key, the latest delivery winning. Nothing delivered
after D can influence D. (Choosing a snapshot source's partition is done where it is read.)"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.contracts import Contract


def incremental_as_of(bronze: DataFrame, contract: Contract, as_of: date) -> DataFrame:
    """One row per key from deliveries dated on or before `as_of`, the latest delivery winning."""
    columns = [c for c in bronze.columns if c not in contract.key]
    latest = F.max_by(F.struct(*columns), F.col("extract_date")).alias("_latest")
    return (
        bronze
        .where(F.col("extract_date") <= F.lit(as_of))
        .groupBy(*contract.key)
        .agg(latest)
        .select(*contract.key, *[F.col(f"_latest.{c}").alias(c) for c in columns])
    )
