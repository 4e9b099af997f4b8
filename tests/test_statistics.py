"""The night's statistics for the bureau (pipelines.report.statistics): a hand-made city
whose every count, coverage, precision and alert rate is worked out below, and the
sample's night, whose published statistics must equal counts made here, independently,
from its published profile and alerts."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lake import Lake
from pipelines.policy import load_policy
from pipelines.published import read_published
from pipelines.report.statistics import alerted_visits, compute_statistics

A, B = "371402", "371403"  # 德城区, 陵城区 in the default configuration


def _alert(key, county, township, size, rules, categories, urgency, groups, status, programme, reasons, first):
    return {
        "household_key": key,
        "county_code": county,
        "township_code": township,
        "size": size,
        "rules": rules,
        "categories": categories,
        "urgency": urgency,
        "groups": groups,
        "status": status,
        "programme": programme,
        "newly_found": programme is None,
        "exit_reasons": reasons,
        "first_seen_date": date.fromisoformat(first),
    }


@pytest.fixture(scope="module")
def hand_made():
    return _hand_made_statistics(load_policy().model_copy(update={"townships": {f"{A}001": "新华街道"}}))


def _hand_made_statistics(policy):
    """Five scored households (h1-h3 in A, h4-h5 in B; h5 not alerted):

    h1 A/001 size 2: LOW_INCOME+TOP_INDEX, DIBAO, on no programme, first seen 11-01;
       visited 10-20 not eligible (before it was seen: not counted), 11-05 nobody found
       (not counted), 11-20 confirmed;
    h2 A/001 size 3: LOW_INCOME+EXIT_REVIEW (member_not_registered, asset), DIBAO+TEKUN,
       on dibao, first seen 08-01; visited 08-15 confirmed, 10-30 not eligible (day 90:
       counted), 10-31 not eligible (day 91: not counted);
    h3 A/002 size 1: LOW_INCOME, MARGINAL, on marginal, first seen 11-10; visited 11-10
       confirmed (the day it was seen) and 11-15 not eligible;
    h4 B/001 size 4: SPOT_CHECK alone, on tekun, never visited;
    h5 B/001 size 1, not alerted: visited 11-25 confirmed (not counted).
    Roll exceptions: household k9 (two persons, county B) and k8 (one, county unknown)."""
    profile = pd.DataFrame(
        {
            "county_code": [A, A, A, B, B],
            "township_code": ["001", "001", "002", "001", "001"],
            "size": [2, 3, 1, 4, 1],
        }
    )
    alerts = pd.DataFrame(
        [
            _alert("h1", A, "001", 2, ["LOW_INCOME", "TOP_INDEX"], ["DIBAO"], "SAFETY_NET", ["ELDERLY"], "NEW", None,
                   [], "2026-11-01"),
            _alert("h2", A, "001", 3, ["LOW_INCOME", "EXIT_REVIEW"], ["DIBAO", "TEKUN"], "WATCH", [], "ONGOING",
                   "dibao", ["member_not_registered", "asset"], "2026-08-01"),
            _alert("h3", A, "002", 1, ["LOW_INCOME"], ["MARGINAL"], "CARE", ["ELDERLY", "DISABLED"], "ESCALATED",
                   "marginal", [], "2026-11-10"),
            _alert("h4", B, "001", 4, ["SPOT_CHECK"], [], "WATCH", ["MINOR"], "NEW", "tekun", [], "2026-11-28"),
        ]
    )  # fmt: skip
    visits = pd.DataFrame(
        [
            ("h1", "2026-10-20", "not_eligible"), ("h1", "2026-11-05", "not_found"), ("h1", "2026-11-20", "confirmed"),
            ("h2", "2026-08-15", "confirmed"), ("h2", "2026-10-30", "not_eligible"),
            ("h2", "2026-10-31", "not_eligible"),
            ("h3", "2026-11-10", "confirmed"), ("h3", "2026-11-15", "not_eligible"),
            ("h5", "2026-11-25", "confirmed"),
        ],
        columns=["household_key", "visit_date", "outcome"],
    ).assign(visit_date=lambda f: f["visit_date"].map(date.fromisoformat))  # fmt: skip
    exceptions = pd.DataFrame(
        {"household_key": ["k9", "k9", "k8"], "person_id": ["p1", "p2", "p3"], "county_code": [B, B, None]}
    )
    return compute_statistics(profile, alerts, exceptions, visits, policy)


def _get(table, level, measure, value, county=None, township=None):
    rows = table[
        (table["level"] == level)
        & (table["measure"] == measure)
        & (table["value"] == value)
        & (table["county_code"].isna() if county is None else table["county_code"] == county)
        & (table["township_code"].isna() if township is None else table["township_code"] == township)
    ]
    assert len(rows) <= 1
    if rows.empty:
        return None
    r = rows.iloc[0]
    return (int(r["households"]), int(r["persons"]), None if pd.isna(r["share"]) else round(float(r["share"]), 6))


@pytest.mark.parametrize(
    "where, measure, value, expected",
    [
        (("city",), "scored", "all", (5, 11, None)),
        (("county", A), "scored", "all", (3, 6, None)),
        (("county", B), "scored", "all", (2, 5, None)),
        (("township", A, "001"), "scored", "all", (2, 5, None)),
        (("township", B, "001"), "scored", "all", (2, 5, None)),
        (("city",), "alerts", "all", (4, 10, None)),
        (("township", A, "002"), "alerts", "all", (1, 1, None)),
        (("city",), "rule", "LOW_INCOME", (3, 6, None)),
        (("city",), "rule", "TOP_INDEX", (1, 2, None)),
        (("city",), "rule", "EXIT_REVIEW", (1, 3, None)),
        (("county", B), "rule", "SPOT_CHECK", (1, 4, None)),
        (("county", B), "rule", "LOW_INCOME", None),
        (("city",), "category", "DIBAO", (2, 5, None)),
        (("city",), "category", "TEKUN", (1, 3, None)),
        (("township", A, "002"), "category", "MARGINAL", (1, 1, None)),
        (("city",), "group", "ELDERLY", (2, 3, None)),
        (("city",), "group", "MINOR", (1, 4, None)),
        (("city",), "urgency", "WATCH", (2, 7, None)),
        (("city",), "status", "NEW", (2, 6, None)),
        (("city",), "status", "ESCALATED", (1, 1, None)),
        (("city",), "programme", "none", (1, 2, None)),
        (("city",), "programme", "tekun", (1, 4, None)),
        (("city",), "newly_found", "newly_found", (1, 2, None)),
        (("city",), "newly_found", "on_programme", (3, 8, None)),
        (("city",), "exit_review", "all", (1, 3, None)),
        (("city",), "exit_review", "asset", (1, 3, None)),
        (("city",), "exit_review", "member_not_registered", (1, 3, None)),
        # h1 and h2 are candidates; h2 is on dibao
        (("city",), "coverage", "DIBAO_TEKUN", (2, 5, 0.5)),
        (("county", B), "coverage", "DIBAO_TEKUN", None),
        # Visits within 90 days: h1 11-20 confirmed; h2 08-15 confirmed, 10-30 not eligible;
        # h3 11-10 confirmed, 11-15 not eligible. LOW_INCOME: 3 of 5 visits confirmed.
        (("city",), "precision", "LOW_INCOME", (3, 6, 0.6)),
        (("city",), "precision", "TOP_INDEX", (1, 2, 1.0)),
        (("city",), "precision", "EXIT_REVIEW", (1, 3, 0.5)),
        (("city",), "precision", "SPOT_CHECK", None),
        (("county", A), "precision", "LOW_INCOME", (3, 6, 0.6)),
        (("county", A), "precision", "EXIT_REVIEW", (1, 3, 0.5)),
        (("township", A, "001"), "precision", "LOW_INCOME", (2, 5, round(2 / 3, 6))),
        (("township", A, "002"), "precision", "LOW_INCOME", (1, 1, 0.5)),
        (("county", B), "precision", "LOW_INCOME", None),
        # the city alerts 4 of 5: A 3 of 3 (1 / 0.8 = 1.25), B 1 of 2 (0.5 / 0.8 = 0.625)
        (("city",), "alert_rate", "all", (4, 10, 1.0)),
        (("county", A), "alert_rate", "all", (3, 6, 1.25)),
        (("county", B), "alert_rate", "all", (1, 4, 0.625)),
        (("township", A, "001"), "alert_rate", "all", (2, 5, 1.25)),
        # k9 and k8 (persons p1, p2, p3); by county only where the registry has one
        (("city",), "roll_exceptions", "all", (2, 3, None)),
        (("county", B), "roll_exceptions", "all", (1, 2, None)),
        (("county", A), "roll_exceptions", "all", None),
    ],
)
def test_hand_made_city(hand_made, where, measure, value, expected):
    level, *region = where
    assert _get(hand_made, level, measure, value, *region) == expected


def test_the_precision_window_is_configured():
    """With 120 days instead of 90, h2's visit of day 91 counts too: EXIT_REVIEW 1 of 3
    visits confirmed, LOW_INCOME 3 of 6 (h1's visit before it was seen still does not)."""
    policy = load_policy()
    window = policy.statistics.model_copy(update={"precision_window_days": 120})
    wider = policy.model_copy(update={"statistics": window})
    table = _hand_made_statistics(wider)
    assert _get(table, "city", "precision", "EXIT_REVIEW") == (1, 3, round(1 / 3, 6))
    assert _get(table, "city", "precision", "LOW_INCOME") == (3, 6, 0.5)


def test_an_alert_without_categories_is_no_candidate_and_exit_review_is_found_among_rules():
    """Two alerts: k1 (size 2) with null categories and rules LOW_INCOME; k2 (size 3) a
    TEKUN candidate on tekun, with EXIT_REVIEW after LOW_INCOME among its rules."""
    profile = pd.DataFrame({"county_code": [A, A], "township_code": ["001", "001"], "size": [2, 3]})
    alerts = pd.DataFrame(
        [
            _alert("k1", A, "001", 2, ["LOW_INCOME"], None, "WATCH", [], "NEW", None, [], "2026-11-28"),
            _alert("k2", A, "001", 3, ["LOW_INCOME", "EXIT_REVIEW"], ["TEKUN"], "WATCH", [], "NEW", "tekun", ["asset"],
                   "2026-11-28"),
        ]
    )  # fmt: skip
    none = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("household_key", "visit_date", "outcome")})
    exceptions = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("household_key", "person_id", "county_code")})
    table = compute_statistics(profile, alerts, exceptions, none, load_policy())
    assert _get(table, "city", "coverage", "DIBAO_TEKUN") == (1, 3, 1.0)
    assert _get(table, "city", "exit_review", "all") == (1, 3, None)
    assert _get(table, "city", "exit_review", "asset") == (1, 3, None)
    assert _get(table, "city", "precision", "LOW_INCOME") is None


def test_regions_are_named_by_the_configuration(hand_made):
    names = {
        (r.level, r.county_code, r.township_code): r.region_name
        for r in hand_made[hand_made["measure"] == "scored"].itertuples()
    }
    assert names == {
        ("city", None, None): "德州市",
        ("county", A, None): "德城区",
        ("county", B, None): "陵城区",
        ("township", A, "001"): "新华街道",
        ("township", A, "002"): None,  # not known: shown by its code
        ("township", B, "001"): None,
    }


def _parquet(folder, rows: dict) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.table(rows), folder / "part-00000.parquet")


def test_the_visits_are_read_as_of_the_date_the_latest_delivery_winning(tmp_path):
    """Visits of 2026-11-28's alerted households (K1, K2; K3 is not alerted), from the
    visit deliveries of a lake:

    09-30: v0 K1 09-30 not eligible (a delivery before the earliest first seen, 10-01: not read)
    10-02: v1 K1 10-02 confirmed; v2 K2 10-02 not found
    11-20: v2 K2 10-02 not eligible (v2 corrected); v3 K3 11-20 confirmed
    11-29: v1 K1 10-02 not found (a correction delivered after the date: not seen)"""
    visits = {
        "2026-09-30": [("v0", "K1", "2026-09-30", "not_eligible")],
        "2026-10-02": [("v1", "K1", "2026-10-02", "confirmed"), ("v2", "K2", "2026-10-02", "not_found")],
        "2026-11-20": [("v2", "K2", "2026-10-02", "not_eligible"), ("v3", "K3", "2026-11-20", "confirmed")],
        "2026-11-29": [("v1", "K1", "2026-10-02", "not_found")],
    }
    for extract, rows in visits.items():
        _parquet(
            tmp_path / "bronze" / "visit_outcomes" / f"extract_date={extract}",
            {
                "visit_id": [r[0] for r in rows],
                "household_id": [r[1] for r in rows],
                "visit_date": [date.fromisoformat(r[2]) for r in rows],
                "outcome": [r[3] for r in rows],
            },
        )
    _parquet(
        tmp_path / "restricted" / "alerts" / "snapshot_date=2026-11-28",
        {"household_key": ["key-1", "key-2"], "household_id": ["K1", "K2"]},
    )
    found = alerted_visits(Lake(tmp_path), date(2026, 11, 28), date(2026, 10, 1))
    assert sorted(map(tuple, found[["household_key", "visit_date", "outcome"]].values.tolist())) == [
        ("key-1", date(2026, 10, 2), "confirmed"),
        ("key-2", date(2026, 10, 2), "not_eligible"),
    ]
    assert "household_id" not in found.columns
    assert alerted_visits(Lake(tmp_path), date(2026, 11, 28), None).empty  # nobody alerted


# ---- the sample's night ------------------------------------------------------------

DAY = "2026-11-28"


def _independent_counts(profile: pd.DataFrame, alerts: pd.DataFrame) -> dict:
    """(level, county, measure, value) -> (households, persons), counted row by row."""
    counts: Counter = Counter()

    def add(county, measure, value, size):
        for key in (("city", None), ("county", county)):
            counts[(*key, measure, value, "h")] += 1
            counts[(*key, measure, value, "p")] += size

    for r in profile.itertuples():
        add(r.county_code, "scored", "all", r.size)
    for r in alerts.itertuples():
        add(r.county_code, "alerts", "all", r.size)
        for rule in r.rules:
            add(r.county_code, "rule", rule, r.size)
        for category in r.categories:
            add(r.county_code, "category", category, r.size)
        for group in r.groups:
            add(r.county_code, "group", group, r.size)
        add(r.county_code, "urgency", r.urgency, r.size)
        add(r.county_code, "status", r.status, r.size)
        add(r.county_code, "programme", r.programme or "none", r.size)
        add(r.county_code, "newly_found", "newly_found" if r.newly_found else "on_programme", r.size)
    keys = {k[:4] for k in counts}
    return {k: (counts[(*k, "h")], counts[(*k, "p")]) for k in keys}


COUNTED = {"scored", "alerts", "rule", "category", "group", "urgency", "status", "programme", "newly_found"}


def test_sample_statistics_equal_counts_from_the_published_tables(sample_night):
    lake, _ = sample_night
    profile = read_published(lake, "gold/household_profile", DAY)
    alerts = read_published(lake, "gold/alerts", DAY)
    stats = read_published(lake, "gold/statistics", DAY)
    expected = _independent_counts(profile, alerts)
    published = {
        (r.level, r.county_code, r.measure, r.value): (r.households, r.persons)
        for r in stats[stats["level"].isin(["city", "county"])].itertuples()
        if r.measure in COUNTED
    }
    assert published == expected
    assert expected[("city", None, "alerts", "all")] == (len(alerts), int(alerts["size"].sum())) != (0, 0)
    # townships add up to their county
    township = stats[(stats["level"] == "township") & (stats["measure"] == "alerts")]
    by_county = township.groupby("county_code")["households"].sum().to_dict()
    assert by_county == {c: h for (lvl, c, m, v), (h, _) in expected.items() if lvl == "county" and m == "alerts"}
    # coverage: DIBAO/TEKUN candidates and the share on dibao or tekun
    candidates = alerts[alerts["categories"].map(lambda c: "DIBAO" in c or "TEKUN" in c)]
    on = candidates["programme"].isin(["dibao", "tekun"]).sum()
    [coverage] = stats[(stats["level"] == "city") & (stats["measure"] == "coverage")].itertuples()
    assert (coverage.households, coverage.persons) == (len(candidates), int(candidates["size"].sum()))
    assert coverage.share == pytest.approx(on / len(candidates))


def test_the_statistics_name_no_one_and_the_manifest_lists_them(sample_night):
    lake, _ = sample_night
    stats = read_published(lake, "gold/statistics", DAY)  # raises unless the manifest lists it
    vocabulary = {
        "all", "LOW_INCOME", "TOP_INDEX", "EXIT_REVIEW", "SPOT_CHECK", "DIBAO", "TEKUN", "MARGINAL",
        "RIGID_EXPENDITURE", "RELAPSE_RISK", "ELDERLY", "DISABLED", "MINOR", "SERIOUS_ILLNESS",
        "UNEMPLOYED_ABLE", "SINGLE_PARENT", "URGENT", "SAFETY_NET", "CARE", "WATCH", "NEW", "ONGOING",
        "ESCALATED", "dibao", "tekun", "marginal", "rigid_expenditure", "none", "newly_found", "on_programme",
        "income_above_line", "asset", "member_not_registered", "declared_income_understated", "DIBAO_TEKUN",
    }  # fmt: skip
    assert set(stats["value"]) <= vocabulary
    assert all(re.fullmatch(r"\d{6}", c) for c in stats["county_code"].dropna())
    assert all(re.fullmatch(r"\d{3}", t) for t in stats["township_code"].dropna())
    assert set(stats.columns) == {
        "level", "county_code", "township_code", "region_name", "measure", "value", "households", "persons",
        "share", "snapshot_date",
    }  # fmt: skip
