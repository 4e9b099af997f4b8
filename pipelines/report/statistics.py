"""The night's statistics for the bureau ("Targeting quality" in domain.md): for the city,
each county and each township, households and persons scored and alerted, by rule,
category, urgency, group, status and programme; newly found vs on a programme; coverage;
the exit-review load; roll exceptions (counts only); precision from visit outcomes by
rule; and each region's alert rate relative to the city.

One long table, `gold/statistics`, a row per (level, region, measure, value). It is
computed from the published profile and alerts of the date (pseudonymous) and the count
of roll exceptions, so it holds no personal data; it is rewritten whenever the alerts'
lifecycle of its date is re-derived. The tables are small (one row per household at
most), so this is pandas, not Spark."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pandas as pd

from pipelines.lake import Lake
from pipelines.policy import Policy
from pipelines.report.partitions import contract_columns, publish_frame, read_partition
from pipelines.tables import ALERTS, HOUSEHOLD_PROFILE, ROLL_EXCEPTIONS, STATISTICS

log = logging.getLogger(__name__)

LEVELS = ("city", "county", "township")
ALL = "all"
KEYS = ["level", "county_code", "township_code", "measure", "value"]
KEYS_NO_MEASURE = ["level", "county_code", "township_code", "value"]

PROFILE_COLUMNS = ["county_code", "township_code", "size"]
ALERT_COLUMNS = [
    "county_code",
    "township_code",
    "size",
    "rules",
    "categories",
    "urgency",
    "groups",
    "status",
    "programme",
    "newly_found",
    "exit_reasons",
    "first_seen_date",
    "last_visit_date",
    "last_visit_outcome",
]


# ---- counting ----------------------------------------------------------------------


def _region_columns(level: str) -> list[str]:
    return {"city": [], "county": ["county_code"], "township": ["county_code", "township_code"]}[level]


def _tally(frame: pd.DataFrame, measure: str, value: pd.Series | str) -> pd.DataFrame:
    """Households (rows) and persons (sum of size) of `frame` by `value`, at every level."""
    frame = frame.assign(value=value)
    frame = frame[frame["value"].notna()]
    out = []
    for level in LEVELS:
        by = [*_region_columns(level), "value"]
        counted = (
            frame.groupby(by, dropna=False).agg(households=("size", "size"), persons=("size", "sum")).reset_index()
        )
        counted["level"] = level
        out.append(counted)
    result = pd.concat(out, ignore_index=True)
    result["measure"] = measure
    return result


def _exploded(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per element of an array column (an empty or null array gives no row)."""
    rows = frame.explode(column)
    return rows[rows[column].notna()]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def _with_share(frame: pd.DataFrame, counted: pd.Series, measure: str, value: pd.Series | str) -> pd.DataFrame:
    """`_tally` of `frame`, with the share of its households for which `counted` holds."""
    whole = _tally(frame, measure, value)
    part = _tally(frame[counted], measure, value if isinstance(value, str) else value[counted])
    merged = whole.merge(
        part[[*KEYS_NO_MEASURE, "households"]].rename(columns={"households": "part"}), on=KEYS_NO_MEASURE, how="left"
    )
    merged["share"] = _ratio(merged["part"].fillna(0), merged["households"])
    return merged.drop(columns="part")


def _coverage(alerts: pd.DataFrame) -> pd.DataFrame:
    """DIBAO/TEKUN candidates (households, persons) and the share of them already on dibao
    or tekun."""
    candidates = alerts[alerts["categories"].map(lambda c: c is not None and bool({"DIBAO", "TEKUN"} & set(c)))]
    return _with_share(candidates, candidates["programme"].isin(["dibao", "tekun"]), "coverage", "DIBAO_TEKUN")


def _precision(alerts: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """By rule: alerts whose last visit came within `window_days` after the alert was first
    seen and found the household confirmed or not eligible (households, persons), and the
    share confirmed among them."""
    visited = alerts[alerts["last_visit_outcome"].isin(["confirmed", "not_eligible"])]
    first_seen = pd.to_datetime(visited["first_seen_date"])
    seen = pd.to_datetime(visited["last_visit_date"])
    visited = visited[(seen >= first_seen) & (seen <= first_seen + timedelta(days=window_days))]
    by_rule = _exploded(visited, "rules")
    return _with_share(by_rule, by_rule["last_visit_outcome"] == "confirmed", "precision", by_rule["rules"])


def _alert_rate(scored: pd.DataFrame, alerted: pd.DataFrame) -> pd.DataFrame:
    """Each region's share of scored households alerted, relative to the city's (1.0 is the
    city's rate; a county far from the others is a question to ask)."""
    rates = alerted.merge(
        scored[[*KEYS_NO_MEASURE, "households"]].rename(columns={"households": "scored"}),
        on=KEYS_NO_MEASURE,
        how="left",
    )
    own = _ratio(rates["households"], rates["scored"])
    city = float(own[rates["level"] == "city"].iloc[0]) if (rates["level"] == "city").any() else None
    rates = rates.drop(columns="scored").assign(measure="alert_rate")
    rates["share"] = own / city if city else None
    return rates


def compute_statistics(
    profile: pd.DataFrame, alerts: pd.DataFrame, exceptions: pd.DataFrame, policy: Policy
) -> pd.DataFrame:
    """The statistics table from the date's profile (county_code, township_code, size),
    alerts (ALERT_COLUMNS) and roll exceptions (household_key, county_code, person_id)."""
    scored = _tally(profile, "scored", ALL)
    alerted = _tally(alerts, "alerts", ALL)
    parts = [scored, alerted]
    for measure, column in (("rule", "rules"), ("category", "categories"), ("group", "groups")):
        rows = _exploded(alerts, column)
        parts.append(_tally(rows, measure, rows[column]))
    for measure, column in (("urgency", "urgency"), ("status", "status")):
        parts.append(_tally(alerts, measure, alerts[column]))
    parts.append(_tally(alerts, "programme", alerts["programme"].fillna("none")))
    found = alerts["newly_found"].map({True: "newly_found", False: "on_programme"})
    parts.append(_tally(alerts, "newly_found", found))
    in_review = alerts[alerts["rules"].map(lambda r: r is not None and "EXIT_REVIEW" in r)]
    reasons = _exploded(in_review, "exit_reasons")
    parts += [_tally(in_review, "exit_review", ALL), _tally(reasons, "exit_review", reasons["exit_reasons"])]
    parts.append(_roll_exceptions(exceptions))
    parts += [
        _coverage(alerts),
        _precision(alerts, policy.statistics.precision_window_days),
        _alert_rate(scored, alerted),
    ]
    table = pd.concat([p for p in parts if len(p)], ignore_index=True)
    if "share" not in table:
        table["share"] = None
    for column in ("county_code", "township_code"):  # absent above its level: None, not NaN
        if column not in table:
            table[column] = None
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    table["region_name"] = region_names(table, policy)
    table = table.sort_values(KEYS, na_position="first", kind="stable").reset_index(drop=True)
    table["households"] = table["households"].astype("int64")
    table["persons"] = table["persons"].astype("int64")
    return table[contract_columns(STATISTICS)]


def _roll_exceptions(exceptions: pd.DataFrame) -> pd.DataFrame:
    """Roll households with no registered member left: households and the persons on their
    roll rows, for the city and by the county of the person's registry entry where known."""
    if exceptions.empty:
        return pd.DataFrame()
    distinct = {"households": ("household_key", "nunique"), "persons": ("person_id", "nunique")}
    city = exceptions.assign(level="city").groupby("level").agg(**distinct).reset_index()
    county = exceptions.groupby("county_code").agg(**distinct).reset_index().assign(level="county")
    return pd.concat([city, county], ignore_index=True).assign(measure="roll_exceptions", value=ALL)


def region_names(table: pd.DataFrame, policy: Policy) -> pd.Series:
    """The city's, counties' (policy `counties`) and townships' (policy `townships`, by
    county and township code, where known) names."""

    def name(row) -> str | None:
        if row.level == "city":
            return policy.city
        if row.level == "county":
            return policy.counties.get(row.county_code)
        return policy.townships.get(f"{row.county_code}{row.township_code}")

    return pd.Series([name(r) for r in table.itertuples()], index=table.index, dtype=object)


# ---- publishing ----------------------------------------------------------------------


def publish_statistics(lake: Lake, policy: Policy, day: date) -> pd.DataFrame:
    """Compute the date's statistics from its partitions and swap them into place; return them."""
    profile = read_partition(lake, HOUSEHOLD_PROFILE, day, PROFILE_COLUMNS)
    alerts = read_partition(lake, ALERTS, day, ALERT_COLUMNS)
    exceptions = read_partition(lake, ROLL_EXCEPTIONS, day, ["household_key", "person_id", "county_code"])
    table = compute_statistics(profile, alerts, exceptions, policy)
    publish_frame(lake, STATISTICS, day, table)
    log.info("statistics of %s: %d rows", day, len(table))
    return table
