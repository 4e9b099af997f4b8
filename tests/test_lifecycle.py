"""The alert lifecycle transforms on small inline alerts, each expectation written by hand:
statuses against the previous run across a gap of two missed nights (previous run
2026-11-20, snapshot 2026-11-23), rules gained, lost or swapped, first_seen_date carried
over, days in alert counted with both ends, and households that left the list."""

from __future__ import annotations

from datetime import date

from pyspark.testing import assertDataFrameEqual

from pipelines.alerts.lifecycle import resolutions, with_lifecycle
from pipelines.policy import load_policy

PREVIOUS_RUN, D = date(2026, 11, 20), date(2026, 11, 23)
TOP, LOW = "TOP_INDEX", "LOW_INCOME"
POLICY = load_policy()
COLUMNS = (
    "household_key string, rules array<string>, hardship_index double, rank long, income_ratio double, "
    "region_code string, county_code string, township_code string, village_code string, "
    "categories array<string>, shock_component double, last_visit_date date, last_visit_outcome string"
)


def alert(
    key: str,
    rules: list[str],
    index: float,
    rank: int,
    categories: list[str] | None = None,
    shock: float = 0.0,
    visit: tuple[date, str] | None = None,
) -> tuple:
    visit_date, outcome = visit or (None, None)
    return (
        key,
        rules,
        index,
        rank,
        0.9,
        "371402001001",
        "371402",
        "001",
        "001",
        categories or [],
        shock,
        visit_date,
        outcome,
    )


def test_statuses_first_seen_and_days_in_alert_against_the_previous_run(spark):
    current = spark.createDataFrame(
        [
            alert("new", [LOW], 30.0, 3),
            alert("same", [LOW], 31.0, 2),
            alert("fewer", [LOW], 20.0, 5),  # had TOP_INDEX too: losing a rule is not an escalation
            alert("gained", [TOP, LOW], 60.0, 1),  # had LOW_INCOME only
            alert("swapped", [LOW], 10.0, 9),  # had TOP_INDEX only: a rule it did not meet before
        ],
        COLUMNS,
    )
    previous = spark.createDataFrame(
        [
            (*alert("same", [LOW], 30.0, 2), date(2026, 11, 1)),
            (*alert("fewer", [TOP, LOW], 50.0, 1), date(2026, 11, 20)),
            (*alert("gained", [LOW], 40.0, 3), date(2026, 10, 31)),
            (*alert("swapped", [TOP], 45.0, 1), date(2026, 11, 19)),
            (*alert("left", [TOP, LOW], 55.0, 1), date(2026, 11, 18)),
        ],
        COLUMNS + ", first_seen_date date",
    )
    got = with_lifecycle(current, previous, D, POLICY).select(
        "household_key", "status", "first_seen_date", "days_in_alert"
    )
    expected = spark.createDataFrame(
        [
            ("new", "NEW", date(2026, 11, 23), 1),
            ("same", "ONGOING", date(2026, 11, 1), 23),
            ("fewer", "ONGOING", date(2026, 11, 20), 4),
            ("gained", "ESCALATED", date(2026, 10, 31), 24),
            ("swapped", "ESCALATED", date(2026, 11, 19), 5),
        ],
        "household_key string, status string, first_seen_date date, days_in_alert long",
    )
    assertDataFrameEqual(got, expected)

    scored_today = spark.createDataFrame(
        [("new",), ("same",), ("fewer",), ("gained",), ("swapped",)], "household_key string"
    )
    left = resolutions(current, previous, PREVIOUS_RUN, scored_today)
    assertDataFrameEqual(
        left,
        spark.createDataFrame(
            [
                (
                    "left",
                    "RESOLVED",
                    "left_registry",  # not among today's scored households
                    [TOP, LOW],
                    55.0,
                    1,
                    0.9,
                    date(2026, 11, 18),
                    PREVIOUS_RUN,
                    3,
                    "371402001001",
                    "371402",
                    "001",
                    "001",
                ),
            ],
            "household_key string, status string, resolution_reason string, last_rules array<string>, "
            "last_hardship_index double, last_rank long, last_income_ratio double, first_seen_date date, "
            "last_alert_date date, days_in_alert long, "
            "region_code string, county_code string, township_code string, village_code string",
        ),
    )


def test_without_an_earlier_run_every_alert_is_new(spark):
    current = spark.createDataFrame([alert("a", [TOP], 50.0, 1), alert("b", [LOW], 10.0, 2)], COLUMNS)
    got = with_lifecycle(current, None, D, POLICY).select("household_key", "status", "first_seen_date", "days_in_alert")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [("a", "NEW", D, 1), ("b", "NEW", D, 1)],
            "household_key string, status string, first_seen_date date, days_in_alert long",
        ),
    )


def test_escalation_v2_a_new_category_or_a_shock_from_0_to_1(spark):
    current = spark.createDataFrame(
        [
            alert("gains_category", [LOW], 30.0, 3, ["MARGINAL", "RELAPSE_RISK"]),
            alert("loses_category", [LOW], 30.0, 4, ["DIBAO"]),
            alert("shock", [LOW], 30.0, 5, ["DIBAO"], shock=1.0),
            alert("shock_stays", [LOW], 30.0, 6, ["DIBAO"], shock=1.0),
            alert("shock_unknown", [LOW], 30.0, 7, ["DIBAO"], shock=1.0),
        ],
        COLUMNS,
    )
    first = date(2026, 11, 1)
    previous = spark.createDataFrame(
        [
            (*alert("gains_category", [LOW], 30.0, 3, ["MARGINAL"]), first),
            (*alert("loses_category", [LOW], 30.0, 4, ["DIBAO", "TEKUN"]), first),
            (*alert("shock", [LOW], 30.0, 5, ["DIBAO"], shock=0.0), first),
            (*alert("shock_stays", [LOW], 30.0, 6, ["DIBAO"], shock=1.0), first),
            # published before alerts kept their shock component: no escalation on it
            (*alert("shock_unknown", [LOW], 30.0, 7, ["DIBAO"], shock=None), first),
        ],
        COLUMNS + ", first_seen_date date",
    )
    got = {r["household_key"]: r["status"] for r in with_lifecycle(current, previous, D, POLICY).collect()}
    assert got == {
        "gains_category": "ESCALATED",
        "loses_category": "ONGOING",
        "shock": "ESCALATED",
        "shock_stays": "ONGOING",
        "shock_unknown": "ONGOING",
    }


def test_a_not_eligible_visit_suppresses_for_180_days_and_the_push_skips_only_plain_new_alerts(spark):
    from pipelines.alerts.lifecycle import pushed

    # D = 2026-11-23; D - 180 days = 2026-05-27: a visit on that day is outside (D - 180, D].
    inside, edge, outside = date(2026, 5, 28), date(2026, 5, 27), date(2026, 5, 26)
    current = spark.createDataFrame(
        [
            alert("new_suppressed", [LOW], 30.0, 3, ["DIBAO"], visit=(inside, "not_eligible")),
            alert("new_exit_review", [LOW, "EXIT_REVIEW"], 30.0, 4, visit=(inside, "not_eligible")),
            alert("new_spot_check", ["SPOT_CHECK"], 30.0, 5, visit=(inside, "not_eligible")),
            alert("escalated_suppressed", [TOP, LOW], 30.0, 6, visit=(inside, "not_eligible")),
            alert("ongoing_suppressed", [LOW], 30.0, 7, visit=(inside, "not_eligible")),
            alert("visit_at_edge", [LOW], 30.0, 8, visit=(edge, "not_eligible")),
            alert("old_visit", [LOW], 30.0, 9, visit=(outside, "not_eligible")),
            alert("confirmed", [LOW], 30.0, 10, visit=(inside, "confirmed")),
        ],
        COLUMNS,
    )
    previous = spark.createDataFrame(
        [
            (*alert("escalated_suppressed", [LOW], 30.0, 6), date(2026, 11, 1)),
            (*alert("ongoing_suppressed", [LOW], 30.0, 7), date(2026, 11, 1)),
        ],
        COLUMNS + ", first_seen_date date",
    )
    lifecycle = with_lifecycle(current, previous, D, POLICY)
    got = {
        r["household_key"]: (r["status"], r["suppressed_until"], r["p"])
        for r in lifecycle.select("*", pushed(lifecycle).alias("p")).collect()
    }
    until = date(2026, 11, 24)  # 2026-05-28 + 180 days
    assert got == {
        "new_suppressed": ("NEW", until, False),
        "new_exit_review": ("NEW", until, True),
        "new_spot_check": ("NEW", until, True),
        "escalated_suppressed": ("ESCALATED", until, True),
        "ongoing_suppressed": ("ONGOING", until, False),
        "visit_at_edge": ("NEW", None, True),
        "old_visit": ("NEW", None, True),
        "confirmed": ("NEW", None, True),
    }


def test_a_resolution_says_whether_the_household_left_the_registry_or_met_no_rule(spark):
    current = spark.createDataFrame([alert("stays", [LOW], 30.0, 1)], COLUMNS)
    previous = spark.createDataFrame(
        [
            (*alert("stays", [LOW], 30.0, 1), date(2026, 11, 1)),
            (*alert("recovered", [LOW], 30.0, 2), date(2026, 11, 1)),
            (*alert("gone", [LOW], 30.0, 3), date(2026, 11, 1)),
        ],
        COLUMNS + ", first_seen_date date",
    )
    scored_today = spark.createDataFrame([("stays",), ("recovered",)], "household_key string")
    got = {
        r["household_key"]: r["resolution_reason"]
        for r in resolutions(current, previous, PREVIOUS_RUN, scored_today).collect()
    }
    assert got == {"recovered": "no_rule_met", "gone": "left_registry"}
