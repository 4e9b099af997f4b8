"""The night's statistics for the bureau ("Targeting quality" in domain.md): for the city,
each county and each township, households and persons scored and alerted, by rule,
category, urgency, group, status and programme; newly found vs on a programme; coverage;
the exit-review load; roll exceptions (counts only); precision from visit outcomes by
rule; and each region's alert rate relative to the city.

One long table, `gold/statistics`, a row per (level, region, measure, value). It is
computed from the published profile and alerts of the date, the roll exceptions, and the
visits of alerted households (matched to their alerts by household number, then known by
their pseudonymous key alone), so it holds no personal data; it is rewritten whenever the
alerts' lifecycle of its date is re-derived. The tables are small (one row per household
or visit at most), so this is pandas, not Spark."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pandas as pd

from pipelines.contracts.model import load_contract
from pipelines.lake import Lake
from pipelines.policy import Policy
from pipelines.report.partitions import contract_columns, publish_frame, read_partition
from pipelines.settings import contracts_dir
from pipelines.tables import (
    ALERTS,
    HOUSEHOLD_PROFILE,
    RESTRICTED_ALERTS,
    ROLL_EXCEPTIONS,
    STATISTICS,
    bronze_table,
)

log = logging.getLogger(__name__)

LEVELS = ("city", "county", "township")
ALL = "all"
KEYS = ["level", "county_code", "township_code", "measure", "value"]
KEYS_NO_MEASURE = ["level", "county_code", "township_code", "value"]
COUNTS = ["households", "persons"]

PROFILE_COLUMNS = ["county_code", "township_code", "size"]
PLACE = PROFILE_COLUMNS  # what a tally counts by, besides its value
ALERT_COLUMNS = [
    "household_key",
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
]
VISITS = "visit_outcomes"  # the source of the caseworkers' visits
DECISIVE = ("confirmed", "not_eligible")  # the outcomes precision counts


# ---- counting ----------------------------------------------------------------------


def _region_columns(level: str) -> list[str]:
    return {"city": [], "county": ["county_code"], "township": ["county_code", "township_code"]}[level]


def _tally(frame: pd.DataFrame, measure: str, value: pd.Series | str, sums: tuple[str, ...] = ()) -> pd.DataFrame:
    """Households (rows) and persons (sum of size) of `frame` by `value`, at every level,
    and the sums of the columns `sums`. (Only the columns counted are copied: an alert
    carries a dozen more, lists among them.)"""
    frame = frame[[*PLACE, *sums]].assign(value=value)
    frame = frame[frame["value"].notna()]
    # Counted once by township; a county's and the city's counts are the sums of theirs.
    finest = [*_region_columns(LEVELS[-1]), "value"]
    summed = {c: (c, "sum") for c in sums}
    townships = (
        frame.groupby(finest, dropna=False)
        .agg(households=("size", "size"), persons=("size", "sum"), **summed)
        .reset_index()
    )
    out = []
    for level in LEVELS:
        by = [*_region_columns(level), "value"]
        rolled = [*COUNTS, *sums]
        counted = townships if by == finest else townships.groupby(by, dropna=False)[rolled].sum().reset_index()
        out.append(counted.assign(level=level))
    result = pd.concat(out, ignore_index=True)
    result["measure"] = measure
    return result


def _exploded(frame: pd.DataFrame, column: str, keep: list[str] = PLACE) -> pd.DataFrame:
    """One row per element of an array column (an empty or null array gives no row), with
    the columns `keep`."""
    rows = frame[[*keep, column]].explode(column)
    return rows[rows[column].notna()]


def _holds_any(lists: pd.Series, values: list[str]) -> pd.Series:
    """Whether each row's array holds any of `values` (a null or empty one holds none);
    `lists` has a unique index."""
    return lists.explode().isin(values).groupby(level=0).any().reindex(lists.index, fill_value=False)


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
    candidates = alerts[_holds_any(alerts["categories"], ["DIBAO", "TEKUN"])]
    return _with_share(candidates, candidates["programme"].isin(["dibao", "tekun"]), "coverage", "DIBAO_TEKUN")


def _precision(alerts: pd.DataFrame, visits: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """By rule: the alerted households with a visit within `window_days` after the alert
    was first seen (both days counted) that found them confirmed or not eligible
    (households, persons), and in share the confirmed among those visits: every such
    visit counts, not just the household's last. `visits`: household_key, visit_date,
    outcome, as of the date."""
    decisive = visits[visits["outcome"].isin(DECISIVE)]
    rows = alerts[["household_key", "county_code", "township_code", "size", "rules", "first_seen_date"]].merge(
        decisive[["household_key", "visit_date", "outcome"]], on="household_key", how="inner"
    )
    first_seen, seen = pd.to_datetime(rows["first_seen_date"]), pd.to_datetime(rows["visit_date"])
    rows = rows[(seen >= first_seen) & (seen <= first_seen + timedelta(days=window_days))]
    rows = _exploded(
        rows.assign(confirmed=rows["outcome"] == "confirmed"), "rules", ["household_key", *PLACE, "confirmed"]
    )
    if rows.empty:
        return pd.DataFrame()
    by_household = (
        rows.groupby(["household_key", "rules"], sort=False)
        .agg(
            county_code=("county_code", "first"),
            township_code=("township_code", "first"),
            size=("size", "first"),
            visits=("confirmed", "size"),
            confirmed=("confirmed", "sum"),
        )
        .reset_index()
    )
    counted = _tally(by_household, "precision", by_household["rules"], ("visits", "confirmed"))
    counted["share"] = _ratio(counted["confirmed"], counted["visits"])
    return counted.drop(columns=["visits", "confirmed"])


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
    profile: pd.DataFrame, alerts: pd.DataFrame, exceptions: pd.DataFrame, visits: pd.DataFrame, policy: Policy
) -> pd.DataFrame:
    """The statistics table from the date's profile (county_code, township_code, size),
    alerts (ALERT_COLUMNS), roll exceptions (household_key, county_code, person_id) and
    the alerted households' visits as of the date (household_key, visit_date, outcome)."""
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
    in_review = alerts[_holds_any(alerts["rules"], ["EXIT_REVIEW"])]
    reasons = _exploded(in_review, "exit_reasons")
    parts += [_tally(in_review, "exit_review", ALL), _tally(reasons, "exit_review", reasons["exit_reasons"])]
    parts.append(_roll_exceptions(exceptions))
    parts += [
        _coverage(alerts),
        _precision(alerts, visits, policy.statistics.precision_window_days),
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
    since = alerts["first_seen_date"].min() if len(alerts) else None
    visits = alerted_visits(lake, day, since)
    table = compute_statistics(profile, alerts, exceptions, visits, policy)
    publish_frame(lake, STATISTICS, day, table)
    log.info("statistics of %s: %d rows", day, len(table))
    return table


def alerted_visits(lake: Lake, day: date, since: date | None) -> pd.DataFrame:
    """The visits of the households alerted on `day` as of `day` (visit_date on or before
    it, from deliveries dated on or before it, the latest delivery of a visit winning), by
    household_key: household_key, visit_date, outcome. Every visit dated from `since` on
    is among them. Deliveries before `since` are not read: a visit is dated on or before
    the delivery it comes in (its contract's row rule), so they hold no such visit, and a
    later correction of one is in a later delivery."""
    columns = ["household_key", "visit_date", "outcome"]
    table = bronze_table(VISITS)
    dates = [d for d in lake.dates(table) if since is not None and since <= d <= day]
    if not dates:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    key = load_contract(contracts_dir() / f"{VISITS}.yaml").key  # a visit is its key, as delivered
    parts = [
        read_partition(lake, table, d, [*key, "household_id", "visit_date", "outcome"]).assign(extract_date=d)
        for d in dates
    ]
    delivered = pd.concat(parts, ignore_index=True).sort_values("extract_date", kind="stable")
    latest = delivered.drop_duplicates(key, keep="last")
    latest = latest[pd.to_datetime(latest["visit_date"]) <= pd.Timestamp(day)]
    keys = read_partition(lake, RESTRICTED_ALERTS, day, ["household_key", "household_id"])
    return latest.merge(keys, on="household_id", how="inner")[columns].reset_index(drop=True)
