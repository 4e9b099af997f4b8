"""The unified social credit code check (GB 32100-2015) against published codes.

The check character is worked out here in plain Python, independently of the Spark
expression under test: each of the first 17 characters stands for its position in the
standard's alphabet, weighted by 3^(i-1) mod 31; the check character stands for
31 - (sum mod 31), 31 itself being 0."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from pipelines.contracts.types import CREDIT_CODE_CHARACTERS, CREDIT_CODE_WEIGHTS, credit_code_problems

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = [3**i % 31 for i in range(17)]  # 1, 3, 9, 27, 19, 26, 16, ...


def check_character(body: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


# Codes printed on business licences and cited in descriptions of the standard.
PUBLISHED_VALID = ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"]

INVALID = {
    "91350100M000100Y44": "credit_code:bad_check_character",  # last character changed
    "91110000802100433C": "credit_code:bad_check_character",
    "91350100M000100Y4": "credit_code:bad_format",  # 17 characters
    "91350100M000100Y433": "credit_code:bad_format",  # 19
    "9135010OM000100Y43": "credit_code:bad_format",  # the letter O in the division code
    "91350100I000100Y43": "credit_code:bad_format",  # I is not in the alphabet
    "91350100m000100y43": "credit_code:bad_format",  # lower case
    "91A50100M000100Y43": "credit_code:bad_format",  # a letter in the division code
}


def _problems(spark, codes: list[str]) -> dict[str, list[str]]:
    df = spark.createDataFrame([(c,) for c in codes], "credit_code string")
    reasons = F.array_compact(
        F.array(*[F.when(c, F.lit(r)) for c, r in credit_code_problems(F.col("credit_code"), "credit_code")])
    )
    return {r["credit_code"]: r["reasons"] for r in df.select("credit_code", reasons.alias("reasons")).collect()}


def test_the_checks_alphabet_and_weights_are_the_standards():
    assert WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]  # the standard's table
    assert (CREDIT_CODE_CHARACTERS, list(CREDIT_CODE_WEIGHTS)) == (ALPHABET, WEIGHTS)


def test_published_codes_pass(spark):
    assert all(check_character(c[:17]) == c[17] for c in PUBLISHED_VALID), "test data itself must be valid"
    assert _problems(spark, PUBLISHED_VALID) == {c: [] for c in PUBLISHED_VALID}


def test_invalid_codes_fail_with_their_reason(spark):
    assert _problems(spark, list(INVALID)) == {c: [reason] for c, reason in INVALID.items()}


@pytest.mark.parametrize(
    "body",
    [
        "91370000MA3C5DGDX",  # weighted sum 2883 = 93 x 31: the check character is 0, not 31
        "12100000400010398",
        "Y1370100000000000",
        "93370102MA0000000",
    ],
)
def test_every_body_with_its_computed_check_character_passes_and_no_other_does(spark, body):
    right = body + check_character(body)
    wrong = [body + c for c in ALPHABET if c != check_character(body)]
    found = _problems(spark, [right, *wrong])
    assert found[right] == []
    assert all(found[w] == ["credit_code:bad_check_character"] for w in wrong)
