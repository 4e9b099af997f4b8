"""Roll exceptions (Dezhou's e-supervision): the assistance roll's rows in force on D whose
household has no registered member left at all, with what the registry says of each
person. Pure transform; the rows name people and go to the restricted zone only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

REGISTRY_STATUS = {"1": "registered", "2": "deceased", "3": "moved_out"}
ABSENT = "absent"


def left_off_roll(roll: DataFrame, households: DataFrame, as_of: date) -> DataFrame:
    """The roll's rows in force on D whose household has nobody registered: not among
    `households`, the households scored on D (household_id)."""
    in_force = roll.where(F.col("approval_date") <= F.lit(as_of))
    return in_force.join(households.select("household_id"), on="household_id", how="left_anti")


def roll_exceptions(left_off: DataFrame, residents: DataFrame, persons: Sequence[str] | None = None) -> DataFrame:
    """`left_off`: the roll's rows left off (`left_off_roll`); `residents`: the registry as
    of D (every status). `persons`: every person_id of `left_off`, when the caller holds
    them (a few hundred in a city of millions): the registry is then filtered where it
    lies, instead of shuffled whole to be matched with them."""
    if persons is not None:
        residents = residents.where(F.col("person_id").isin(sorted(set(persons))))
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
    return left_off.join(registry, on="person_id", how="left").select(
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
