"""The resident-ID check (GB 11643-1999) against published valid and invalid numbers."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from pipelines.contracts.types import resident_id_problems
from tests.deliveries import check_char

# Numbers published as valid examples (the standard's own example and widely cited ones).
PUBLISHED_VALID = [
    "11010519491231002X",  # GB 11643-1999 example, check character X
    "440524188001010014",  # GB 11643-1999 example
    "110101199003074477",
]

INVALID = {
    "11010519491231002Y": "person_id:bad_format",  # Y is not a check character
    "11010519491231002x": "person_id:bad_format",  # lowercase x is not the standard's X
    "1101051949123100": "person_id:bad_format",  # too short
    "110105194912310021": "person_id:bad_check_character",  # last character changed
    "440524188001010015": "person_id:bad_check_character",
}


def _problems(spark, ids: list[str]) -> dict[str, list[str]]:
    df = spark.createDataFrame([(i,) for i in ids], "person_id string")
    helpers, problems = resident_id_problems(F.col("person_id"), "person_id")
    reasons = F.array_compact(F.array(*[F.when(c, F.lit(r)) for c, r in problems]))
    prepared = df.select("person_id", *[h.alias(n) for n, h in helpers.items()])
    return {r["person_id"]: r["reasons"] for r in prepared.select("person_id", reasons.alias("reasons")).collect()}


def test_published_valid_ids_pass(spark):
    assert all(check_char(i[:17]) == i[17] for i in PUBLISHED_VALID), "test data itself must be valid"
    assert _problems(spark, PUBLISHED_VALID) == {i: [] for i in PUBLISHED_VALID}


def test_invalid_ids_fail_with_their_reason(spark):
    found = _problems(spark, list(INVALID))
    assert found == {i: [reason] for i, reason in INVALID.items()}


@pytest.mark.parametrize(
    "body,reason",
    [
        ("37140219990230001", "person_id:bad_birth_date"),  # 30 February
        ("37140220001301001", "person_id:bad_birth_date"),  # month 13
        ("37140219000229001", "person_id:bad_birth_date"),  # 1900 is not a leap year
        ("37140220230229001", "person_id:bad_birth_date"),
        ("37140219990431001", "person_id:bad_birth_date"),  # 31 April
        ("37140219990100001", "person_id:bad_birth_date"),  # day 0
        ("99140219900101001", "person_id:bad_province"),  # 99 is no province
        ("10140219900101001", "person_id:bad_province"),
        ("72140219900101001", "person_id:bad_province"),
    ],
)
def test_impossible_birth_date_or_province_is_bad_even_with_a_correct_check_character(spark, body, reason):
    number = body + check_char(body)
    assert _problems(spark, [number])[number] == [reason]


@pytest.mark.parametrize("body", ["37140220000229001", "37140220240229001", "37140219991231001", "37140219990131001"])
def test_leap_days_and_month_ends_are_valid_birth_dates(spark, body):
    number = body + check_char(body)
    assert _problems(spark, [number])[number] == []


def test_abolished_region_code_is_still_valid(spark):
    body = "37240119650712003"  # 372401: a Dezhou-area code no longer in use
    number = body + check_char(body)
    assert _problems(spark, [number])[number] == []
