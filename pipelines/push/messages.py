"""The alert message for caseworkers and its idempotency key. Pure transform over the
restricted alerts of one snapshot date; the columns are the contract
`schemas/outputs/alert_message.yaml`.

idempotency_key = sha256 hex of "lipmon-alert:v1|<household_key>|<snapshot_date>|<rules
sorted, comma-separated>". It depends only on the household, the date and the rules, so
every rerun or backfill of a date gives the same key to the same alert, and a household
that escalates gets a new one. It is built from the pseudonymous household_key, so the key
reveals no household number; it stays stable as long as the pseudonym secret does."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.alerts.lifecycle import PUSHED_STATUSES, pushed

KEY_VERSION = "lipmon-alert:v1"


def idempotency_key(household_key: Column, snapshot_date: Column, rules: Column) -> Column:
    return F.sha2(
        F.concat_ws(
            "|",
            F.lit(KEY_VERSION),
            household_key,
            F.date_format(snapshot_date, "yyyy-MM-dd"),
            F.array_join(F.array_sort(rules), ","),
        ),
        256,
    )


def alert_messages(restricted_alerts: DataFrame, as_of: date) -> DataFrame:
    """One message per NEW or ESCALATED alert of the snapshot date that is not suppressed
    by a recent visit (lifecycle.pushed), highest rank first."""
    return (
        restricted_alerts.where(pushed(restricted_alerts))
        .select("*", F.lit(as_of).alias("snapshot_date"))
        .select(
            "*",
            idempotency_key(F.col("household_key"), F.col("snapshot_date"), F.col("rules")).alias("idempotency_key"),
        )
        .orderBy("rank", "household_key")
    )


def suppressed_alerts(restricted_alerts: DataFrame) -> DataFrame:
    """The NEW alerts a recent visit keeps from the push (listed, not sent)."""
    return restricted_alerts.where(F.col("status").isin(*PUSHED_STATUSES) & ~pushed(restricted_alerts))
