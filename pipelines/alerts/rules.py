"""The alert rules and candidate categories over scored households. Pure transforms.

TOP_INDEX: k = ceil(top_share x N) households in the scope, ranked by hardship_index
descending then household_id ascending. LOW_INCOME: per-capita income below
low_income_multiple x the dibao standard. Categories v2 (the monitored groups) are
suggestions for verification, never eligibility decisions:

- DIBAO: income_ratio below 1, no asset flag; MARGINAL: from 1 to below 1.5, no asset flag;
- RIGID_EXPENDITURE: income_ratio at least 1 and medical cost of 12 months at least 0.6 x
  a year's income;
- TEKUN: every member a dependent (a child, elderly or severely disabled), no wage
  contribution in the income window (farm income is not wage), income_ratio below 1, no
  asset flag.

Every alert explains what the second wave's data decided: `assets_exclude` lists the
categories its income alone would give that its asset flags exclude, and
`farm_income_excludes` the rules and categories it would meet on its formal income alone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.alerts.rank import rank_within_scope
from pipelines.policy import Policy

TOP_INDEX, LOW_INCOME = "TOP_INDEX", "LOW_INCOME"


def _labels(conditions: list[tuple[Column, str]]) -> Column:
    return F.array_compact(F.array(*[F.when(cond, F.lit(label)) for cond, label in conditions]))


def _low_income(per_capita_income: Column, policy: Policy) -> list[tuple[Column, str]]:
    return [(per_capita_income < policy.alerts.low_income_multiple * F.col("dibao_standard"), LOW_INCOME)]


def _categories(income: Column, without_assets: Column, policy: Policy) -> list[tuple[Column, str]]:
    """The categories of a household whose monthly income is `income`; `without_assets`
    is the asset test (true: no asset flag, or the test ignored)."""
    cat = policy.categories
    ratio = income / F.col("size") / F.col("dibao_standard")
    every_member_dependent = F.col("dependents") == F.col("size")
    return [
        ((ratio < cat.dibao_ratio_below) & without_assets, "DIBAO"),
        ((ratio >= cat.dibao_ratio_below) & (ratio < cat.marginal_ratio_below) & without_assets, "MARGINAL"),
        (
            (ratio >= cat.dibao_ratio_below) & (F.col("oop_12m") >= cat.rigid_expenditure_share * 12 * income),
            "RIGID_EXPENDITURE",
        ),
        (
            every_member_dependent & ~F.col("has_wage_income") & (ratio < cat.dibao_ratio_below) & without_assets,
            "TEKUN",
        ),
    ]


def apply_rules(scored: DataFrame, policy: Policy) -> DataFrame:
    """Scored households plus rank, scope_size, percentile, rules, categories and what the
    asset flags and farm income decided (`assets_exclude`, `farm_income_excludes`)."""
    scope = F.lit("city") if policy.alerts.top_scope == "city" else F.col("county_code")
    ranked = rank_within_scope(
        scored.select("*", scope.alias("rank_scope")),
        "rank_scope",
        [F.col("hardship_index").desc(), F.col("household_id").asc()],
    )
    k = F.ceil(F.lit(policy.alerts.top_share) * F.col("scope_size"))
    no_assets = F.size(F.col("asset_flags")) == 0
    income, formal = F.col("income"), F.col("formal_income")
    categories = _labels(_categories(income, no_assets, policy))
    rules = _labels([(F.col("rank") <= k, TOP_INDEX), *_low_income(F.col("per_capita_income"), policy)])
    # Computed again without the asset test, and on formal income alone: what they changed.
    ignoring_assets = _labels(_categories(income, F.lit(True), policy))
    on_formal_income = _labels([*_low_income(formal / F.col("size"), policy), *_categories(formal, no_assets, policy)])
    return ranked.select(
        "*",
        F.round(100.0 * (F.col("scope_size") - F.col("rank")) / F.col("scope_size"), 4).alias("percentile"),
        rules.alias("rules"),
        categories.alias("categories"),
        F.array_except(ignoring_assets, categories).alias("assets_exclude"),
        F.array_except(on_formal_income, F.array_union(rules, categories)).alias("farm_income_excludes"),
    ).drop("rank_scope")
