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

Rules v2 review the households already helped (应退尽退): EXIT_REVIEW, for a household on
the roll with any `exit_reasons` (income above its programme's line, an asset flag, a roll
row naming a person who is not a registered member, or, approved on its declaration,
income above the declared by more than the policy's margin); SPOT_CHECK, for a
credit-approved household whose spot number (drawn by the caller with the pseudonym key)
is below the policy's share. RELAPSE_RISK is a category: a lifted or monitored household
near the line, hit by a shock or by medical costs. Every alert has Qixia's `urgency`
(URGENT, SAFETY_NET, CARE, WATCH) and says whether it is `newly_found` (on no programme).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.alerts.rank import rank_within_scope
from pipelines.columns import labels_where
from pipelines.policy import Policy

TOP_INDEX, LOW_INCOME, EXIT_REVIEW, SPOT_CHECK = "TOP_INDEX", "LOW_INCOME", "EXIT_REVIEW", "SPOT_CHECK"
DIBAO, MARGINAL, RIGID_EXPENDITURE, TEKUN, RELAPSE_RISK = (
    "DIBAO",
    "MARGINAL",
    "RIGID_EXPENDITURE",
    "TEKUN",
    "RELAPSE_RISK",
)
URGENT, SAFETY_NET, CARE, WATCH = "URGENT", "SAFETY_NET", "CARE", "WATCH"


def _low_income(per_capita_income: Column, policy: Policy) -> list[tuple[Column, str]]:
    return [(per_capita_income < policy.alerts.low_income_multiple * F.col("dibao_standard"), LOW_INCOME)]


def _categories(income: Column, without_assets: Column, policy: Policy) -> list[tuple[Column, str]]:
    """The categories of a household whose monthly income is `income`; `without_assets`
    is the asset test (true: no asset flag, or the test ignored)."""
    cat = policy.categories
    ratio = income / F.col("size") / F.col("dibao_standard")
    every_member_dependent = F.col("dependents") == F.col("size")
    relapse = policy.relapse_risk
    return [
        ((ratio < cat.dibao_ratio_below) & without_assets, DIBAO),
        ((ratio >= cat.dibao_ratio_below) & (ratio < cat.marginal_ratio_below) & without_assets, MARGINAL),
        (
            (ratio >= cat.dibao_ratio_below) & (F.col("oop_12m") >= cat.rigid_expenditure_share * 12 * income),
            RIGID_EXPENDITURE,
        ),
        (
            every_member_dependent & ~F.col("has_wage_income") & (ratio < cat.dibao_ratio_below) & without_assets,
            TEKUN,
        ),
        (
            F.col("relapse_status").isin(*relapse.statuses)
            & (
                (ratio < relapse.income_ratio_below)
                | (F.col("shock_component") == 1)
                | (F.col("medical_component") >= relapse.medical_component_from)
            ),
            RELAPSE_RISK,
        ),
    ]


def exit_reasons(policy: Policy) -> Column:
    """Why a household on the roll should be reviewed for exit (empty off the roll)."""
    review = policy.exit_review
    lines = review.income_ratio_from
    line = F.create_map(*[x for p in sorted(lines) for x in (F.lit(p), F.lit(float(lines[p])))])[F.col("programme")]
    declared = F.col("declared_income")
    understated = F.col("roll_credit") & (
        F.col("income") - declared
        > F.greatest(review.understated_share * declared, F.lit(float(review.understated_min_yuan)))
    )
    reasons = labels_where(
        [
            (F.coalesce(F.col("income_ratio") >= line, F.lit(False)), "income_above_line"),
            (F.size(F.col("asset_flags")) > 0, "asset"),
            (F.col("roll_members_unregistered") > 0, "member_not_registered"),
            (F.coalesce(understated, F.lit(False)), "declared_income_understated"),
        ]
    )
    return F.when(F.col("programme").isNotNull(), reasons).otherwise(F.array().cast("array<string>"))


def urgency(policy: Policy) -> Column:
    """Qixia's urgency of an alert (null for a household not alerted): the first that applies."""
    categories = F.col("categories")

    def having(*labels: str) -> Column:
        return F.arrays_overlap(categories, F.array(*[F.lit(x) for x in labels]))

    safety_net = having(DIBAO, TEKUN) & ~F.coalesce(
        F.col("programme").isin(*policy.urgency.safety_net_programmes), F.lit(False)
    )
    return (
        F.when(F.size("rules") == 0, F.lit(None).cast("string"))
        .when((F.col("shock_component") == 1) & (F.col("income_ratio") < policy.categories.dibao_ratio_below), URGENT)
        .when(safety_net, SAFETY_NET)
        .when(having(MARGINAL, RIGID_EXPENDITURE, RELAPSE_RISK), CARE)
        .otherwise(WATCH)
    )


def apply_rules(
    scored: DataFrame,
    policy: Policy,
    spot_number: Column | None = None,
    *,
    cache: bool = False,
    held: list[DataFrame] | None = None,
) -> DataFrame:
    """Scored households plus rank, scope_size, percentile, rules, categories, what the
    asset flags and farm income decided (`assets_exclude`, `farm_income_excludes`),
    `exit_reasons`, `urgency` and `newly_found`. `spot_number`: each household's draw in
    [0, 1) for the month (pipelines.pseudonym.spot_number); without it, no spot checks.
    `cache`: rank a cached copy of `scored`; `held` receives the cached sorted rows
    (pipelines.alerts.rank)."""
    scope = F.lit("city") if policy.alerts.top_scope == "city" else F.col("county_code")
    ranked = rank_within_scope(
        scored.select("*", scope.alias("rank_scope")),
        "rank_scope",
        [F.col("hardship_index").desc(), F.col("household_id").asc()],
        cache=cache,
        held=held,
    )
    k = F.ceil(F.lit(policy.alerts.top_share) * F.col("scope_size"))
    no_assets = F.size(F.col("asset_flags")) == 0
    income, formal = F.col("income"), F.col("formal_income")
    categories = labels_where(_categories(income, no_assets, policy))
    drawn = F.lit(False) if spot_number is None else spot_number < policy.spot_check.share
    spot_check = F.col("programme").isNotNull() & F.col("roll_credit") & drawn
    rules = labels_where(
        [
            (F.col("rank") <= k, TOP_INDEX),
            *_low_income(F.col("per_capita_income"), policy),
            (F.size("exit_reasons") > 0, EXIT_REVIEW),
            (spot_check, SPOT_CHECK),
        ]
    )
    # Computed again without the asset test, and on formal income alone: what they changed.
    ignoring_assets = labels_where(_categories(income, F.lit(True), policy))
    on_formal_income = labels_where(
        [*_low_income(formal / F.col("size"), policy), *_categories(formal, no_assets, policy)]
    )
    ruled = ranked.select(
        "*",
        F.round(100.0 * (F.col("scope_size") - F.col("rank")) / F.col("scope_size"), 4).alias("percentile"),
        exit_reasons(policy).alias("exit_reasons"),
    ).select(
        "*",
        rules.alias("rules"),
        categories.alias("categories"),
        F.array_except(ignoring_assets, categories).alias("assets_exclude"),
        F.array_except(on_formal_income, F.array_union(rules, categories)).alias("farm_income_excludes"),
    )
    return ruled.select(
        "*",
        urgency(policy).alias("urgency"),
        ((F.size("rules") > 0) & F.col("programme").isNull()).alias("newly_found"),
    ).drop("rank_scope")
