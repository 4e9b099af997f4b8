"""The alert lifecycle transforms on small inline alerts, each expectation written by hand:
statuses against the previous run across a gap of two missed nights (previous run
2026-11-20, snapshot 2026-11-23), rules gained, lost or swapped, first_seen_date carried
over, days in alert counted with both ends, and households that left the list."""

from __future__ import annotations

from datetime import date

from pyspark.testing import assertDataFrameEqual

from pipelines.alerts.lifecycle import resolutions, with_lifecycle

PREVIOUS_RUN, D = date(2026, 11, 20), date(2026, 11, 23)
TOP, LOW = "TOP_INDEX", "LOW_INCOME"
COLUMNS = (
    "household_key string, rules array<string>, hardship_index double, rank long, income_ratio double, "
    "region_code string, county_code string, township_code string, village_code string"
)


def alert(key: str, rules: list[str], index: float, rank: int) -> tuple:
    return (key, rules, index, rank, 0.9, "371402001001", "371402", "001", "001")


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
    got = with_lifecycle(current, previous, D).select("household_key", "status", "first_seen_date", "days_in_alert")
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

    left = resolutions(current, previous, PREVIOUS_RUN)
    assertDataFrameEqual(
        left,
        spark.createDataFrame(
            [
                (
                    "left",
                    "RESOLVED",
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
            "household_key string, status string, last_rules array<string>, last_hardship_index double, "
            "last_rank long, last_income_ratio double, first_seen_date date, last_alert_date date, days_in_alert long, "
            "region_code string, county_code string, township_code string, village_code string",
        ),
    )


def test_without_an_earlier_run_every_alert_is_new(spark):
    current = spark.createDataFrame([alert("a", [TOP], 50.0, 1), alert("b", [LOW], 10.0, 2)], COLUMNS)
    got = with_lifecycle(current, None, D).select("household_key", "status", "first_seen_date", "days_in_alert")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [("a", "NEW", D, 1), ("b", "NEW", D, 1)],
            "household_key string, status string, first_seen_date date, days_in_alert long",
        ),
    )
