"""Alert lifecycle against the previous published run's alerts (动态监测): NEW, ONGOING,
or ESCALATED when a household meets a rule it did not meet before; first_seen_date carries
over while the household stays alerted; households alerted before and not now are
RESOLVED. Pure transforms: the IO shell (snapshot.py) picks the previous run.

The previous run is the latest published one before the snapshot date, not necessarily
the day before: after a missed night an alert that persisted across the gap is ONGOING
and keeps its first_seen_date."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

NEW, ONGOING, ESCALATED, RESOLVED = "NEW", "ONGOING", "ESCALATED", "RESOLVED"
PUSHED_STATUSES = (NEW, ESCALATED)
LIFECYCLE_COLUMNS = ("status", "first_seen_date", "days_in_alert")


def _days_in_alert(first_seen: Column, as_of: date) -> Column:
    """Calendar days from first_seen_date to the snapshot date, both counted: 1 when new."""
    return (F.datediff(F.lit(as_of), first_seen) + 1).cast("long")


def with_lifecycle(alerts: DataFrame, previous: DataFrame | None, as_of: date) -> DataFrame:
    """`alerts` keyed by household_key with `rules`; `previous` the previous run's alerts
    (household_key, rules, first_seen_date), None when there is no earlier run."""
    if previous is None:
        first_seen = F.lit(as_of)
        return alerts.select(
            "*",
            F.lit(NEW).alias("status"),
            first_seen.alias("first_seen_date"),
            _days_in_alert(first_seen, as_of).alias("days_in_alert"),
        )
    before = previous.select(
        "household_key", F.col("rules").alias("_previous_rules"), F.col("first_seen_date").alias("_first_seen")
    )
    joined = alerts.join(before, on="household_key", how="left")
    status = (
        F.when(F.col("_previous_rules").isNull(), F.lit(NEW))
        .when(F.size(F.array_except("rules", "_previous_rules")) > 0, F.lit(ESCALATED))
        .otherwise(F.lit(ONGOING))
    )
    first_seen = F.coalesce(F.col("_first_seen"), F.lit(as_of))
    return joined.select(
        *alerts.columns,
        status.alias("status"),
        first_seen.alias("first_seen_date"),
        _days_in_alert(first_seen, as_of).alias("days_in_alert"),
    )


def resolutions(alerts: DataFrame, previous: DataFrame, previous_date: date) -> DataFrame:
    """Households in the previous run's alerts (dated `previous_date`) that are not in
    `alerts`: RESOLVED, with what they were last alerted for. No personal columns."""
    still_alerted = alerts.select("household_key")
    left = previous.join(still_alerted, on="household_key", how="left_anti")
    return left.select(
        "household_key",
        F.lit(RESOLVED).alias("status"),
        F.col("rules").alias("last_rules"),
        F.col("hardship_index").alias("last_hardship_index"),
        F.col("rank").alias("last_rank"),
        F.col("income_ratio").alias("last_income_ratio"),
        "first_seen_date",
        F.lit(previous_date).alias("last_alert_date"),
        _days_in_alert(F.col("first_seen_date"), previous_date).alias("days_in_alert"),
        "region_code",
        "county_code",
        "township_code",
        "village_code",
    )
