"""Alert lifecycle against the previous run's alerts (动态监测): NEW, ONGOING, or
ESCALATED when a household meets a rule it did not meet before; first_seen_date carries
over while the household stays alerted. Pure transform."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

NEW, ONGOING, ESCALATED = "NEW", "ONGOING", "ESCALATED"


def with_lifecycle(alerts: DataFrame, previous: DataFrame | None, as_of: date) -> DataFrame:
    """`alerts` keyed by household_key with `rules`; `previous` the last run's alerts."""
    if previous is None:
        return alerts.select("*", F.lit(NEW).alias("status"), F.lit(as_of).alias("first_seen_date"))
    before = previous.select(
        "household_key", F.col("rules").alias("_previous_rules"), F.col("first_seen_date").alias("_first_seen"))
    joined = alerts.join(before, on="household_key", how="left")
    status = (
        F.when(F.col("_previous_rules").isNull(), F.lit(NEW))
        .when(F.size(F.array_except("rules", "_previous_rules")) > 0, F.lit(ESCALATED))
        .otherwise(F.lit(ONGOING))
    )
    return joined.select(
        *alerts.columns,
        status.alias("status"),
        F.coalesce(F.col("_first_seen"), F.lit(as_of)).alias("first_seen_date"),
    )
