"""Hardship index v2 (0-100) from a household profile: six components in [0, 1], each
weighted by policy, kept with their weighted contributions, and the top reasons.
Pure transforms; every number comes from the policy configuration.

v2 (domain.md, "Index v2 changes") counts farm income in the income, severely disabled
members among the dependents, and leaves them out of the unemployment share. With none
of the second wave's sources delivered every value equals v1's: no farm income, no
severe disability."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.columns import labels_where
from pipelines.policy import Policy
from pipelines.policy.config import COMPONENTS


def clamp01(value: Column) -> Column:
    return F.least(F.greatest(value, F.lit(0.0)), F.lit(1.0))


def components(policy: Policy) -> dict[str, Column]:
    """Each component's value in [0, 1] over profile columns (domain.md, index v1 and v2)."""
    ix = policy.index
    return {
        "income": clamp01(1 - F.col("income_ratio") / ix.income_zero_at_ratio),
        "medical": clamp01(F.col("oop_12m") / (12 * F.col("dibao_standard") * F.col("size"))),
        "dependency": F.col("dependents") / F.col("size"),
        "unemployment": F.when(
            F.col("able_working_age") > 0, F.col("working_age_without_wage") / F.col("able_working_age")
        ).otherwise(F.lit(0.0)),
        "illness": F.col("ill_members") / F.col("size"),
        "shock": F.when((F.col("recent_deaths") > 0) | F.col("catastrophic_inpatient"), 1.0).otherwise(0.0),
    }


def top_reasons(weighted: dict[str, Column], count: int) -> Column:
    """Component names by weighted contribution, largest first (ties in component order),
    only those contributing more than zero."""
    entries = F.array(
        *[
            F.struct((-value).alias("neg"), F.lit(i).alias("order"), F.lit(name).alias("component"))
            for i, (name, value) in enumerate(weighted.items())
        ]
    )
    # Sorted by (-contribution, order): the contributing ones first, largest first (an
    # entry whose contribution is null sorts first, and is left out like a zero one).
    ranked = F.sort_array(entries)
    chosen = labels_where([(ranked[i]["neg"] < 0, ranked[i]["component"]) for i in range(len(weighted))])
    return F.slice(chosen, 1, count)


def score(profiles: DataFrame, policy: Policy) -> DataFrame:
    """Profile columns plus `<component>_component`, `<component>_weighted`,
    `hardship_index` and `top_reasons`."""
    values = components(policy)
    weights = policy.index.weights
    with_values = profiles.select("*", *[v.cast("double").alias(f"{c}_component") for c, v in values.items()])
    weighted = {c: F.lit(weights[c]) * F.col(f"{c}_component") for c in COMPONENTS}
    total = sum((weighted[c] for c in COMPONENTS[1:]), weighted[COMPONENTS[0]])
    return with_values.select(
        "*",
        *[w.alias(f"{c}_weighted") for c, w in weighted.items()],
        F.round(100 * total, 4).alias("hardship_index"),
        top_reasons(weighted, policy.index.top_reasons).alias("top_reasons"),
    )
