"""The alert rules and candidate categories over scored households. Pure transforms.

TOP_INDEX: k = ceil(top_share x N) households in the scope, ranked by hardship_index
descending then household_id ascending. LOW_INCOME: per-capita income below
low_income_multiple x the dibao standard. Categories (the five monitored groups) are
suggestions for verification, never eligibility decisions.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.alerts.rank import rank_within_scope
from pipelines.policy import Policy

TOP_INDEX, LOW_INCOME = "TOP_INDEX", "LOW_INCOME"


def _labels(conditions: list[tuple[Column, str]]) -> Column:
    return F.array_compact(F.array(*[F.when(cond, F.lit(label)) for cond, label in conditions]))


def apply_rules(scored: DataFrame, policy: Policy) -> DataFrame:
    """Scored households plus rank, scope_size, percentile, rules and categories."""
    scope = F.lit("city") if policy.alerts.top_scope == "city" else F.col("county_code")
    ranked = rank_within_scope(
        scored.select("*", scope.alias("rank_scope")),
        "rank_scope",
        [F.col("hardship_index").desc(), F.col("household_id").asc()],
    )
    k = F.ceil(F.lit(policy.alerts.top_share) * F.col("scope_size"))
    ratio = F.col("income_ratio")
    cat = policy.categories
    every_member_dependent = (F.col("children") + F.col("elderly")) == F.col("size")
    return ranked.select(
        "*",
        F.round(100.0 * (F.col("scope_size") - F.col("rank")) / F.col("scope_size"), 4).alias("percentile"),
        _labels(
            [
                (F.col("rank") <= k, TOP_INDEX),
                (F.col("per_capita_income") < policy.alerts.low_income_multiple * F.col("dibao_standard"), LOW_INCOME),
            ]
        ).alias("rules"),
        _labels(
            [
                (ratio < cat.dibao_ratio_below, "DIBAO"),
                ((ratio >= cat.dibao_ratio_below) & (ratio < cat.marginal_ratio_below), "MARGINAL"),
                (
                    (ratio >= cat.dibao_ratio_below)
                    & (F.col("oop_12m") >= cat.rigid_expenditure_share * 12 * F.col("income")),
                    "RIGID_EXPENDITURE",
                ),
                (every_member_dependent & ~F.col("has_wage_income"), "TEKUN"),
            ]
        ).alias("categories"),
    ).drop("rank_scope")
