"""Roll exceptions (Dezhou's e-supervision): the assistance roll's rows in force on D whose
household has no registered member left at all, with what the registry says of each
person. Pure transform; the rows name people and go to the restricted zone only."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

REGISTRY_STATUS = {"1": "registered", "2": "deceased", "3": "moved_out"}
ABSENT = "absent"


def roll_exceptions(roll: DataFrame, residents: DataFrame, households: DataFrame, as_of: date) -> DataFrame:
    """`roll`: the assistance roll as of D; `residents`: the registry as of D (every
    status); `households`: the households scored on D (household_id)."""
    in_force = roll.where(F.col("approval_date") <= F.lit(as_of))
    nobody_left = in_force.join(households.select("household_id"), on="household_id", how="left_anti")
    registry = residents.select(
        "person_id",
        F.col("name").alias("_name"),
        F.col("status").alias("_status"),
        F.col("status_date").alias("registry_status_date"),
        F.col("household_id").alias("_registry_household"),
        F.substring(F.col("region_code"), 1, 6).alias("county_code"),
    )
    status = F.coalesce(
        F.create_map(*[x for code, label in REGISTRY_STATUS.items() for x in (F.lit(code), F.lit(label))])[
            F.col("_status")
        ],
        F.lit(ABSENT),
    )
    return nobody_left.join(registry, on="person_id", how="left").select(
        "household_id",
        "person_id",
        F.col("_name").alias("name"),
        "programme",
        "approval_date",
        "approval_mode",
        F.col("monthly_benefit").cast("double").alias("monthly_benefit"),
        status.alias("registry_status"),
        "registry_status_date",
        F.when(F.col("_status") == "1", F.col("_registry_household")).alias("registry_household_id"),
        "county_code",
    )
