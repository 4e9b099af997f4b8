"""Alert lifecycle against the previous published run's alerts (动态监测 v2): NEW, ONGOING,
or ESCALATED when a household meets a rule it did not meet before, gains a category it
did not have, or its shock component went from 0 to 1; first_seen_date carries over while
the household stays alerted; households alerted before and not now are RESOLVED, with
their `resolution_reason` (`left_registry`: not scored today; `no_rule_met`). Pure
transforms: the IO shell (snapshot.py) picks the previous run.

The loop back from the field: a household whose last visit found it not eligible
(the policy's outcomes) within the suppression period before D carries `suppressed_until`
(the visit date plus the period) on its alert, whatever its status; the push then skips it
unless it escalated or its new rules include EXIT_REVIEW or SPOT_CHECK (`pushed`).

The previous run is the latest published one before the snapshot date, not necessarily
the day before: after a missed night an alert that persisted across the gap is ONGOING
and keeps its first_seen_date."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.alerts.rules import EXIT_REVIEW, SPOT_CHECK
from pipelines.policy import Policy

NEW, ONGOING, ESCALATED, RESOLVED = "NEW", "ONGOING", "ESCALATED", "RESOLVED"
PUSHED_STATUSES = (NEW, ESCALATED)
# Rules that reach a caseworker even within a suppression period.
UNSUPPRESSED_RULES = (EXIT_REVIEW, SPOT_CHECK)
LEFT_REGISTRY, NO_RULE_MET = "left_registry", "no_rule_met"
LIFECYCLE_COLUMNS = ("status", "first_seen_date", "days_in_alert", "suppressed_until")


def suppressed_until(policy: Policy, as_of: date) -> Column:
    """visit date + the period for a household whose last visit had a suppressing outcome
    within (D - period, D], else null."""
    days = policy.suppression.days
    recent = F.col("last_visit_date") > F.lit(as_of - timedelta(days=days))
    suppressing = F.col("last_visit_outcome").isin(*policy.suppression.outcomes) & recent
    return F.when(suppressing, F.date_add(F.col("last_visit_date"), days))


def pushed(alerts: DataFrame) -> Column:
    """Whether an alert goes to caseworkers: NEW or ESCALATED, and, within a suppression
    period, ESCALATED or with EXIT_REVIEW or SPOT_CHECK among its rules (a NEW alert's rules
    are all new)."""
    reviewed = F.arrays_overlap(F.col("rules"), F.array(*[F.lit(r) for r in UNSUPPRESSED_RULES]))
    return F.col("status").isin(*PUSHED_STATUSES) & (
        F.col("suppressed_until").isNull() | (F.col("status") == ESCALATED) | reviewed
    )


def _days_in_alert(first_seen: Column, as_of: date) -> Column:
    """Calendar days from first_seen_date to the snapshot date, both counted: 1 when new."""
    return (F.datediff(F.lit(as_of), first_seen) + 1).cast("long")


def with_lifecycle(alerts: DataFrame, previous: DataFrame | None, as_of: date, policy: Policy) -> DataFrame:
    """`alerts` keyed by household_key with `rules`, `categories`, `shock_component` and
    the last visit; `previous` the previous run's alerts (household_key, rules, categories,
    shock_component, first_seen_date), None when there is no earlier run. A previous alert
    without a shock component (published before it was kept) does not escalate on it."""
    suppressed = suppressed_until(policy, as_of).alias("suppressed_until")
    if previous is None:
        first_seen = F.lit(as_of)
        return alerts.select(
            "*",
            F.lit(NEW).alias("status"),
            first_seen.alias("first_seen_date"),
            _days_in_alert(first_seen, as_of).alias("days_in_alert"),
            suppressed,
        )
    before = previous.select(
        "household_key",
        F.col("rules").alias("_previous_rules"),
        F.coalesce(F.col("categories"), F.array().cast("array<string>")).alias("_previous_categories"),
        F.col("shock_component").alias("_previous_shock"),
        F.col("first_seen_date").alias("_first_seen"),
    )
    joined = alerts.join(before, on="household_key", how="left")
    escalated = (
        (F.size(F.array_except("rules", "_previous_rules")) > 0)
        | (F.size(F.array_except("categories", "_previous_categories")) > 0)
        | ((F.col("_previous_shock") == 0) & (F.col("shock_component") == 1))
    )
    status = (
        F.when(F.col("_previous_rules").isNull(), F.lit(NEW))
        .when(escalated, F.lit(ESCALATED))
        .otherwise(F.lit(ONGOING))
    )
    first_seen = F.coalesce(F.col("_first_seen"), F.lit(as_of))
    return joined.select(
        *alerts.columns,
        status.alias("status"),
        first_seen.alias("first_seen_date"),
        _days_in_alert(first_seen, as_of).alias("days_in_alert"),
        suppressed,
    )


def resolutions(alerts: DataFrame, previous: DataFrame, previous_date: date, scored: DataFrame) -> DataFrame:
    """Households in the previous run's alerts (dated `previous_date`) that are not in
    `alerts`: RESOLVED, with what they were last alerted for, and why: `left_registry` when
    the household is not among today's `scored` (household_key), else `no_rule_met`. No
    personal columns."""
    still_alerted = alerts.select("household_key")
    left = previous.join(still_alerted, on="household_key", how="left_anti").join(
        scored.select("household_key", F.lit(True).alias("_scored")), on="household_key", how="left"
    )
    return left.select(
        "household_key",
        F.lit(RESOLVED).alias("status"),
        F.when(F.col("_scored"), F.lit(NO_RULE_MET)).otherwise(F.lit(LEFT_REGISTRY)).alias("resolution_reason"),
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
