"""The night's index, rules and categories recomputed in pandas/numpy from a published
household profile, for the what-if (pipelines.report.whatif). Each formula is the twin of
a Spark transform and names it; with the night's own settings they give the published
columns for every household (tests/test_whatif.py)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from pipelines.alerts.rules import (
    DIBAO,
    EXIT_REVIEW,
    LOW_INCOME,
    MARGINAL,
    RELAPSE_RISK,
    RIGID_EXPENDITURE,
    SPOT_CHECK,
    TEKUN,
    TOP_INDEX,
)
from pipelines.policy import ConfigError, Policy
from pipelines.policy.config import COMPONENTS, RESIDENCE_CODES

RULES = (TOP_INDEX, LOW_INCOME, EXIT_REVIEW, SPOT_CHECK)
CATEGORIES = (DIBAO, MARGINAL, RIGID_EXPENDITURE, TEKUN, RELAPSE_RISK)
EXIT_REASONS = ("income_above_line", "asset", "member_not_registered", "declared_income_understated")
# The published profile columns the formulas read.
INPUTS = [
    "county_code",
    "residence_type",
    "size",
    "dependents",
    "able_working_age",
    "working_age_without_wage",
    "ill_members",
    "income",
    "per_capita_income",
    "dibao_standard",
    "has_wage_income",
    "oop_12m",
    "recent_deaths",
    "catastrophic_inpatient",
    "programme",
    "declared_income",
    "roll_credit",
    "roll_members_unregistered",
    "relapse_status",
    "hardship_index",
    "rank",
]


def standards(profile: pd.DataFrame, policy: Policy, day: date) -> np.ndarray:
    """Each household's dibao standard in force on `day`: its county's for its residence
    type, else the "*" one (a county the configuration does not list takes the "*" one).
    Twin of pipelines.profile.household.standards_table and its join in household_profiles."""
    own = {(county, code): amount for county, code, amount in policy.standards_on(day)}
    fallback = {code: policy.standard("*", kind, day) for code, kind in RESIDENCE_CODES.items()}
    county_idx, counties = pd.factorize(profile["county_code"], use_na_sentinel=False)
    type_idx, types = pd.factorize(profile["residence_type"], use_na_sentinel=False)
    grid = np.array(
        [[own.get((c, t), fallback.get(t)) or np.nan for t in types] for c in counties], dtype="float64"
    ).reshape(len(counties), len(types))
    standard = grid[county_idx, type_idx]
    if np.isnan(standard).any():
        missing = sorted({str(c) for c in profile["county_code"][np.isnan(standard)]})[:5]
        raise ConfigError(f"no dibao standard in force on {day} for county {', '.join(missing)}")
    return standard


def income_ratio(profile: pd.DataFrame, standard: np.ndarray) -> np.ndarray:
    """Twin of the indicator income_ratio (schemas/indicators/income_ratio.yaml): income / size / standard."""
    return profile["income"].to_numpy() / profile["size"].to_numpy() / standard


def _clamp01(value: np.ndarray) -> np.ndarray:
    """Twin of pipelines.index.hardship.clamp01."""
    return np.minimum(np.maximum(value, 0.0), 1.0)


def components(profile: pd.DataFrame, standard: np.ndarray, ratio: np.ndarray, policy: Policy) -> pd.DataFrame:
    """Each component in [0, 1]. Twin of pipelines.index.hardship.components."""
    p = {c: profile[c].to_numpy() for c in INPUTS if c not in ("county_code", "residence_type", "programme")}
    able = p["able_working_age"]
    return pd.DataFrame(
        {
            "income": _clamp01(1 - ratio / policy.index.income_zero_at_ratio),
            "medical": _clamp01(p["oop_12m"] / (12 * standard * p["size"])),
            "dependency": p["dependents"] / p["size"],
            "unemployment": np.where(able > 0, p["working_age_without_wage"] / np.where(able > 0, able, 1), 0.0),
            "illness": p["ill_members"] / p["size"],
            "shock": np.where((p["recent_deaths"] > 0) | p["catastrophic_inpatient"], 1.0, 0.0),
        },
        index=profile.index,
    )


def spark_round(value: np.ndarray, scale: int) -> np.ndarray:
    """Twin of Spark's round(double, scale): the double's shortest decimal form rounded half
    up (java.math.BigDecimal.valueOf(x).setScale(scale, HALF_UP)). Vectorised; the few
    values that lie at a half after scaling are decided exactly, as Spark does."""
    scaled = value * 10.0**scale
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / 10.0**scale
    near_half = np.abs(np.abs(scaled) - np.floor(np.abs(scaled)) - 0.5) < 1e-6
    quantum = Decimal(1).scaleb(-scale)
    for i in np.flatnonzero(near_half & np.isfinite(value)):
        rounded[i] = float(Decimal(repr(float(value[i]))).quantize(quantum, rounding=ROUND_HALF_UP))
    return rounded


def score(values: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """`<component>_component`, `<component>_weighted` and `hardship_index`. Twin of
    pipelines.index.hardship.score (the same order of additions)."""
    weights = policy.index.weights
    weighted = {c: weights[c] * values[c].to_numpy() for c in COMPONENTS}
    total = weighted[COMPONENTS[0]]
    for c in COMPONENTS[1:]:
        total = total + weighted[c]
    return pd.DataFrame(
        {
            **{f"{c}_component": values[c].to_numpy() for c in COMPONENTS},
            **{f"{c}_weighted": weighted[c] for c in COMPONENTS},
            "hardship_index": spark_round(100 * total, 4),
        },
        index=values.index,
    )


def ranks(profile: pd.DataFrame, index: np.ndarray, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = first) and scope size within the ranking scope, by the index descending,
    then the published rank ascending, then the county code. The night orders ties by
    household_id, which the profile does not hold; the published rank is that order, so
    with the index unchanged the ranks are the night's. Where the index changes, ties of
    the new index follow the published rank (the old index), and ranking the city from a
    county-ranked night puts equal indices of different counties in county order. Twin
    of pipelines.alerts.rank.rank_within_scope with the order of apply_rules."""
    county_idx = pd.factorize(profile["county_code"], use_na_sentinel=False)[0]
    scope = county_idx if policy.alerts.top_scope == "county" else np.zeros(len(profile), dtype="int64")
    order = np.lexsort((county_idx, profile["rank"].to_numpy(), -index, scope))
    sizes = np.bincount(scope)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.empty(len(profile), dtype="int64")
    rank[order] = np.arange(len(profile)) - starts[scope[order]] + 1
    return rank, sizes[scope]


def exit_reasons(profile: pd.DataFrame, ratio: np.ndarray, policy: Policy) -> pd.DataFrame:
    """Why a household on the roll is up for exit review (none off the roll), one column
    per reason. Twin of pipelines.alerts.rules.exit_reasons."""
    review = policy.exit_review
    on_roll = profile["programme"].notna().to_numpy()
    line = profile["programme"].map({p: float(v) for p, v in review.income_ratio_from.items()}).to_numpy(float)
    declared, income = profile["declared_income"].to_numpy(float), profile["income"].to_numpy()
    margin = np.fmax(review.understated_share * declared, float(review.understated_min_yuan))  # greatest skips nulls
    with np.errstate(invalid="ignore"):
        reasons = {
            "income_above_line": ratio >= line,
            "asset": profile["has_assets"].to_numpy(),
            "member_not_registered": profile["roll_members_unregistered"].to_numpy() > 0,
            "declared_income_understated": profile["roll_credit"].to_numpy() & (income - declared > margin),
        }
    return pd.DataFrame({r: on_roll & reasons[r] for r in EXIT_REASONS}, index=profile.index)


def categories(profile: pd.DataFrame, standard: np.ndarray, scored: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Candidate categories v2, one column each. Twin of pipelines.alerts.rules._categories
    with the asset test, as apply_rules calls it."""
    cat, relapse = policy.categories, policy.relapse_risk
    income, size = profile["income"].to_numpy(), profile["size"].to_numpy()
    ratio = income / size / standard
    no_assets = ~profile["has_assets"].to_numpy()
    dependent = profile["dependents"].to_numpy() == size
    watched = profile["relapse_status"].isin(relapse.statuses).to_numpy()
    return pd.DataFrame(
        {
            DIBAO: (ratio < cat.dibao_ratio_below) & no_assets,
            MARGINAL: (ratio >= cat.dibao_ratio_below) & (ratio < cat.marginal_ratio_below) & no_assets,
            RIGID_EXPENDITURE: (ratio >= cat.dibao_ratio_below)
            & (profile["oop_12m"].to_numpy() >= cat.rigid_expenditure_share * 12 * income),
            TEKUN: dependent & ~profile["has_wage_income"].to_numpy() & (ratio < cat.dibao_ratio_below) & no_assets,
            RELAPSE_RISK: watched
            & (
                (ratio < relapse.income_ratio_below)
                | (scored["shock_component"].to_numpy() == 1)
                | (scored["medical_component"].to_numpy() >= relapse.medical_component_from)
            ),
        },
        index=profile.index,
    )


def recompute(profile: pd.DataFrame, policy: Policy, day: date) -> pd.DataFrame:
    """Standard, ratio, components, index, rank and scope size, and one boolean column per
    rule, category and exit reason, as the night would compute them under `policy`.
    SPOT_CHECK is the night's (`spot_check`). Twin of apply_rules(score(profiles))."""
    standard = standards(profile, policy, day)
    ratio = income_ratio(profile, standard)
    scored = score(components(profile, standard, ratio, policy), policy)
    index = scored["hardship_index"].to_numpy()
    rank, scope_size = ranks(profile, index, policy)
    reasons = exit_reasons(profile, ratio, policy)
    rules = {
        TOP_INDEX: rank <= np.ceil(policy.alerts.top_share * scope_size),
        LOW_INCOME: profile["per_capita_income"].to_numpy() < policy.alerts.low_income_multiple * standard,
        EXIT_REVIEW: reasons.to_numpy().any(axis=1),
        SPOT_CHECK: profile["spot_check"].to_numpy(),
    }
    return pd.concat(
        [
            pd.DataFrame({"dibao_standard": standard, "income_ratio": ratio}, index=profile.index),
            scored,
            pd.DataFrame({"rank": rank, "scope_size": scope_size, **rules}, index=profile.index),
            categories(profile, standard, scored, policy),
            reasons,
        ],
        axis=1,
    )
