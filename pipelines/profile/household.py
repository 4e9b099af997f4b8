"""The household profile (一户一档) as of snapshot date D: members and their ages, the
household's region and residence type, monthly income by component over the 12 whole
months before D's month, out-of-pocket medical cost over (D - 365 days, D], the dibao
standard in force, and the counts behind every index component. Pure transforms.

Money is summed in whole fen (cents) as 64-bit integers, which is exact, and only the
sums become yuan in floating point. Summing doubles would make the last bits depend on the
order Spark adds rows in (the partitioning, the cluster, adaptive execution) and, through
ties in the rounded index, even ranks: the same inputs must give the same outputs under
any configuration. (Decimal sums would be exact too, but their wide results are summed as
Java BigDecimals, several times slower.)"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.policy import Policy
from pipelines.profile.window import Windows

HEAD = "01"
REGISTERED, DECEASED = "1", "2"
WAGE, PENSION, UNEMPLOYMENT = "wage_contribution", "pension", "unemployment_benefit"


def age_at(birth_date: Column, as_of: date) -> Column:
    """Completed years at as_of."""
    before_birthday = (F.month(birth_date) > as_of.month) | (
        (F.month(birth_date) == as_of.month) & (F.dayofmonth(birth_date) > as_of.day)
    )
    return F.lit(as_of.year) - F.year(birth_date) - F.when(before_birthday, 1).otherwise(0)


def fen(df: DataFrame, column: str) -> Column:
    """A delivered yuan amount as whole fen, exactly. The amount must be a decimal of at
    most 2 places: a third place would be cut off silently by the cast."""
    dtype = df.schema[column].dataType
    if not isinstance(dtype, T.DecimalType) or dtype.scale > 2:
        raise ValueError(
            f"{column}: money is summed in whole fen, so it must be a decimal with at most "
            f"2 places; it is {dtype.simpleString()} (see the column's contract)"
        )
    return (F.col(column) * 100).cast("long")


def yuan(fen_amount: Column) -> Column:
    return fen_amount.cast("double") / 100


def _exact_sum(column: str) -> Column:
    """A household's total of a per-person amount in fen, members without any counting 0."""
    return F.sum(F.coalesce(F.col(column), F.lit(0))).alias(column)


def person_payments(payments: DataFrame, windows: Windows) -> DataFrame:
    """Per person: 12-month sums by item, and whether a wage contribution exists in the
    income window and in the unemployment window."""
    amount = fen(payments, "amount")
    in_recent = F.col("period").isin(windows.unemployment_periods)
    return (
        payments.where(F.col("period").isin(windows.income_periods))
        .groupBy("person_id")
        .agg(
            F.sum(F.when(F.col("item") == WAGE, amount)).alias("wage_12m"),
            F.sum(F.when(F.col("item") == PENSION, amount)).alias("pension_12m"),
            F.sum(F.when(F.col("item") == UNEMPLOYMENT, amount)).alias("unemployment_12m"),
            F.max(F.col("item") == WAGE).alias("has_wage_12m"),
            F.max((F.col("item") == WAGE) & in_recent).alias("has_recent_wage"),
        )
        .select("person_id", "wage_12m", "pension_12m", "unemployment_12m", "has_wage_12m", "has_recent_wage")
    )


def person_medical(settlements: DataFrame, windows: Windows, policy: Policy) -> DataFrame:
    """Per person: out-of-pocket cost in the medical window, whether they had an illness
    visit there, and their largest inpatient out-of-pocket cost in the shock window."""
    day = F.col("settlement_date")
    oop = fen(settlements, "out_of_pocket")
    in_year = (day > F.lit(windows.medical_after)) & (day <= F.lit(windows.as_of))
    in_shock = (day > F.lit(windows.inpatient_shock_after)) & (day <= F.lit(windows.as_of))
    return (
        settlements.where(in_year | in_shock)
        .groupBy("person_id")
        .agg(
            F.sum(F.when(in_year, oop)).alias("oop_12m"),
            F.max(in_year & F.col("visit_type").isin(policy.index.illness_visit_types)).alias("ill"),
            F.max(F.when(in_shock & (F.col("visit_type") == "inpatient"), oop)).alias("max_inpatient_oop_recent"),
        )
        .select("person_id", "oop_12m", "ill", "max_inpatient_oop_recent")
    )


def recent_deaths(residents: DataFrame, windows: Windows) -> DataFrame:
    """Residents of each household (same household_id in the snapshot) who died in the window."""
    return (
        residents.where(
            (F.col("status") == DECEASED)
            & (F.col("status_date") > F.lit(windows.death_after))
            & (F.col("status_date") <= F.lit(windows.as_of))
        )
        .groupBy("household_id")
        .agg(F.count(F.lit(1)).alias("recent_deaths"))
        .select("household_id", "recent_deaths")
    )


def standards_table(spark: SparkSession, policy: Policy, as_of: date) -> DataFrame:
    """The dibao standard in force on as_of for every configured county and residence type,
    plus the '*' fallback rows for counties the configuration does not list."""
    rows = [(county, code, amount) for county, code, amount in policy.standards_on(as_of)]
    for code, rtype in (("1", "urban"), ("2", "rural")):
        amount = policy.standard("*", rtype, as_of)
        if amount is not None:
            rows.append(("*", code, amount))
    return spark.createDataFrame(rows, "county string, residence_type string, dibao_standard double")


def household_profiles(
    residents: DataFrame,
    payments: DataFrame,
    settlements: DataFrame,
    standards: DataFrame,
    policy: Policy,
    windows: Windows,
) -> DataFrame:
    """One row per household with at least one registered member."""
    ix = policy.index
    members = (
        residents.where(F.col("status") == REGISTERED)
        .select(
            "household_id",
            "person_id",
            "name",
            "relation_to_head",
            "region_code",
            "residence_type",
            age_at(F.col("birth_date"), windows.as_of).alias("age"),
        )
        .join(person_payments(payments, windows), on="person_id", how="left")
        .join(person_medical(settlements, windows, policy), on="person_id", how="left")
    )
    is_child = F.col("age") < ix.child_age_below
    is_elderly = F.col("age") >= ix.elderly_age_from
    working_age = ~is_child & ~is_elderly
    # The head represents the household; without a registered head, the smallest person_id.
    representative = F.struct(F.when(F.col("relation_to_head") == HEAD, 0).otherwise(1), F.col("person_id"))
    households = members.groupBy("household_id").agg(
        F.count(F.lit(1)).alias("size"),
        F.min_by(
            F.struct(
                "region_code",
                "residence_type",
                "person_id",
                "name",
                (F.col("relation_to_head") == HEAD).alias("is_head"),
            ),
            representative,
        ).alias("rep"),
        _exact_sum("wage_12m"),
        _exact_sum("pension_12m"),
        _exact_sum("unemployment_12m"),
        F.max(F.coalesce("has_wage_12m", F.lit(False))).alias("has_wage_income"),
        F.count(F.when(is_child, 1)).alias("children"),
        F.count(F.when(is_elderly, 1)).alias("elderly"),
        F.count(F.when(working_age, 1)).alias("working_age"),
        F.count(F.when(working_age & ~F.coalesce("has_recent_wage", F.lit(False)), 1)).alias(
            "working_age_without_wage"
        ),
        F.count(F.when(F.coalesce("ill", F.lit(False)), 1)).alias("ill_members"),
        _exact_sum("oop_12m"),
        yuan(F.max("max_inpatient_oop_recent")).alias("max_inpatient_oop_recent"),
    )
    county = F.substring(F.col("rep.region_code"), 1, 6)
    specific = standards.where(F.col("county") != "*").select(
        F.col("county").alias("_county"), F.col("residence_type").alias("_rtype"), F.col("dibao_standard").alias("_s")
    )
    fallback = standards.where(F.col("county") == "*").select(
        F.col("residence_type").alias("_rtype_any"), F.col("dibao_standard").alias("_s_any")
    )
    profiled = (
        households.select("*", county.alias("county_code"))
        .join(
            F.broadcast(specific),
            on=(F.col("county_code") == F.col("_county")) & (F.col("rep.residence_type") == F.col("_rtype")),
            how="left",
        )
        .join(F.broadcast(fallback), on=F.col("rep.residence_type") == F.col("_rtype_any"), how="left")
        .join(recent_deaths(residents, windows), on="household_id", how="left")
    )
    income = yuan(F.col("wage_12m") + F.col("pension_12m") + F.col("unemployment_12m")) / ix.income_window_months
    standard = F.coalesce(F.col("_s"), F.col("_s_any"))
    return profiled.select(
        "household_id",
        F.col("rep.region_code").alias("region_code"),
        "county_code",
        F.substring(F.col("rep.region_code"), 7, 3).alias("township_code"),
        F.substring(F.col("rep.region_code"), 10, 3).alias("village_code"),
        F.col("rep.residence_type").alias("residence_type"),
        F.col("rep.person_id").alias("head_person_id"),
        F.col("rep.name").alias("head_name"),
        F.col("rep.is_head").alias("head_registered"),
        "size",
        "children",
        "elderly",
        "working_age",
        "working_age_without_wage",
        "ill_members",
        (yuan(F.col("wage_12m")) / ix.income_window_months).alias("wage_income"),
        (yuan(F.col("pension_12m")) / ix.income_window_months).alias("pension_income"),
        (yuan(F.col("unemployment_12m")) / ix.income_window_months).alias("unemployment_income"),
        income.alias("income"),
        (income / F.col("size")).alias("per_capita_income"),
        standard.alias("dibao_standard"),
        (income / F.col("size") / standard).alias("income_ratio"),
        "has_wage_income",
        yuan(F.col("oop_12m")).alias("oop_12m"),
        F.coalesce(F.col("recent_deaths"), F.lit(0)).alias("recent_deaths"),
        (
            F.coalesce(F.col("max_inpatient_oop_recent"), F.lit(0.0))
            >= F.lit(ix.shock_out_of_pocket_multiple) * standard
        ).alias("catastrophic_inpatient"),
    )
