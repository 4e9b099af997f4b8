"""Profiles, hardship index v1 and alert rules on small hand-built households, each
expected value computed by hand here from domain.md's formulas (never by the code under
test). Snapshot date D = 2026-11-28: income months 2025-11..2026-10, unemployment months
2026-08..2026-10, medical window (2025-11-28, 2026-11-28], inpatient shock window
(2026-08-30, 2026-11-28]. Standards: urban 814, rural 666."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from pipelines.alerts.rules import apply_rules
from pipelines.contracts.files import schemas_dir
from pipelines.index.hardship import score
from pipelines.policy import load_policy
from pipelines.profile.household import household_profiles, standards_table
from pipelines.profile.indicators import load_indicators
from tests.deliveries import PAYMENT_COLUMNS, RESIDENT_COLUMNS, SETTLEMENT_COLUMNS

D = date(2026, 11, 28)
POLICY = load_policy()
INDICATORS = load_indicators(schemas_dir() / "indicators")
URBAN, RURAL = 814.0, 666.0
INCOME_MONTHS = [f"2025-{m:02d}" for m in (11, 12)] + [f"2026-{m:02d}" for m in range(1, 11)]


def profiles_of(spark, residents, payments, settlements):
    """The declared profile of the core three sources as of D (no other source delivered)."""
    inputs = {"residents": residents, "social_security": payments, "medical_settlements": settlements}
    return household_profiles(inputs, standards_table(spark, POLICY, D), {}, INDICATORS, POLICY, D)


def person(pid, hh, rel, birth, rtype="1", region="371402001001", status="1", status_date=None):
    return (pid, f"name-{pid}", "1", birth, hh, rel, region, rtype, status, status_date)


def monthly(pid, item, amount, months=INCOME_MONTHS):
    return [(f"{pid}-{item}-{m}", pid, m, item, Decimal(str(amount))) for m in months]


def settlement(sid, pid, visit, oop, day):
    return (sid, pid, visit, None, None, None, Decimal(str(oop)), Decimal("0"), Decimal(str(oop)), day)


RESIDENTS = [
    # H1 urban: head 40 earning 4000 every month; spouse 38 without wage
    person("p11", "H1", "01", date(1986, 1, 1)),
    person("p12", "H1", "02", date(1988, 1, 1)),
    # H2 rural: one pensioner aged 70 with a chronic illness
    person("p21", "H2", "01", date(1956, 5, 5), rtype="2"),
    # H3 urban: zero income, head 35 with a catastrophic recent inpatient stay, one child
    person("p31", "H3", "01", date(1991, 3, 3)),
    person("p32", "H3", "03", date(2016, 1, 1)),
    # H4 no head: members 02 and 03; region and residence type from the smallest person_id (p41)
    person("p42", "H4", "03", date(2000, 2, 2), rtype="1", region="371402001001"),
    person("p41", "H4", "02", date(1970, 2, 2), rtype="2", region="371403002003"),
    # H5 head with wage; spouse died 2026-06-01 (recent death: shock); child moved out
    person("p51", "H5", "01", date(1980, 1, 1)),
    person("p52", "H5", "02", date(1981, 1, 1), status="2", status_date=date(2026, 6, 1)),
    person("p53", "H5", "03", date(2005, 1, 1), status="3", status_date=date(2025, 9, 1)),
    # H6 exactly 2 x standard per person (not LOW_INCOME); H7 just under
    person("p61", "H6", "01", date(1990, 1, 1)),
    person("p71", "H7", "01", date(1990, 1, 1)),
    # H8 medical cost above its clamp; birthday on D (turns 60 on D: elderly)
    person("p81", "H8", "01", date(1966, 11, 28)),
    # H9 only a deceased resident: no registered member, not scored
    person("p91", "H9", "01", date(1940, 1, 1), status="2", status_date=date(2026, 1, 1)),
]
PAYMENTS = [
    *monthly("p11", "wage_contribution", 4000),
    *monthly("p21", "pension", 200),
    *monthly("p41", "wage_contribution", 2000, INCOME_MONTHS[:9]),  # stopped after 2026-07
    *monthly("p51", "wage_contribution", 5000),
    *monthly("p61", "wage_contribution", 1628),
    *monthly("p71", "wage_contribution", 1627.99),
    *monthly("p81", "pension", 3000),
    ("old", "p11", "2025-10", "wage_contribution", Decimal("99999")),  # before the income window
    ("cur", "p11", "2026-11", "wage_contribution", Decimal("99999")),  # D's own month: not in the window
]
SETTLEMENTS = [
    settlement("s1", "p21", "chronic_outpatient", 1000, date(2026, 3, 1)),
    settlement("s2", "p31", "inpatient", 3000, date(2026, 10, 15)),  # >= 3 x 814 within 90 days
    settlement("s3", "p81", "outpatient", 50000, date(2026, 11, 28)),  # on D: inside (D-365, D]
    settlement("s4", "p81", "inpatient", 10, date(2025, 11, 28)),  # exactly D-365: outside
    settlement("s5", "p11", "outpatient", 70, date(2026, 11, 29)),  # after D: outside
]


def clamp(x):
    return min(max(x, 0.0), 1.0)


def index(income_ratio, oop, size, dependents, wa, wa_without, ill, shock, s):
    value = (
        0.40 * clamp(1 - income_ratio / 2)
        + 0.20 * clamp(oop / (12 * s * size))
        + 0.15 * dependents / size
        + 0.10 * (wa_without / wa if wa else 0.0)
        + 0.10 * ill / size
        + 0.05 * shock
    )
    return round(100 * value, 4)


EXPECTED = {  # household: (size, per-capita income, standard, index)
    "H1": (2, 2000.0, URBAN, index(2000 / URBAN, 0, 2, 0, 2, 1, 0, 0, URBAN)),
    "H2": (1, 200.0, RURAL, index(200 / RURAL, 1000, 1, 1, 0, 0, 1, 0, RURAL)),
    "H3": (2, 0.0, URBAN, index(0.0, 3000, 2, 1, 1, 1, 1, 1, URBAN)),
    "H4": (2, 2000 * 9 / 12 / 2, RURAL, index(2000 * 9 / 12 / 2 / RURAL, 0, 2, 0, 2, 2, 0, 0, RURAL)),
    "H5": (1, 5000.0, URBAN, index(5000 / URBAN, 0, 1, 0, 1, 0, 0, 1, URBAN)),
    "H6": (1, 1628.0, URBAN, index(2.0, 0, 1, 0, 1, 0, 0, 0, URBAN)),
    "H7": (1, 1627.99, URBAN, index(1627.99 / URBAN, 0, 1, 0, 1, 0, 0, 0, URBAN)),
    "H8": (1, 3000.0, URBAN, index(3000 / URBAN, 50000, 1, 1, 0, 0, 0, 0, URBAN)),
}


@pytest.fixture(scope="module")
def result(spark):
    residents = spark.createDataFrame(RESIDENTS, RESIDENT_COLUMNS)
    payments = spark.createDataFrame(PAYMENTS, PAYMENT_COLUMNS)
    settlements = spark.createDataFrame(SETTLEMENTS, SETTLEMENT_COLUMNS)
    profiles = profiles_of(spark, residents, payments, settlements)
    rows = apply_rules(score(profiles, POLICY), POLICY).collect()
    return {r["household_id"]: r for r in rows}


def test_only_households_with_registered_members_are_scored(result):
    assert sorted(result) == sorted(EXPECTED)


@pytest.mark.parametrize("household", sorted(EXPECTED))
def test_profile_and_index_match_hand_computation(result, household):
    size, pci, standard, expected_index = EXPECTED[household]
    row = result[household]
    assert row["size"] == size
    assert row["per_capita_income"] == pytest.approx(pci, abs=1e-9)
    assert row["dibao_standard"] == standard
    assert row["hardship_index"] == pytest.approx(expected_index, abs=1e-9)


def test_components_at_zero_in_between_and_clamped(result):
    assert result["H1"]["income_component"] == 0.0  # ratio above 2: clamped at 0
    assert result["H3"]["income_component"] == 1.0  # zero income
    assert result["H2"]["income_component"] == pytest.approx(1 - 200 / RURAL / 2)
    assert result["H8"]["medical_component"] == 1.0  # 50000 > 12 x 814: clamped at 1
    assert result["H2"]["medical_component"] == pytest.approx(1000 / (12 * RURAL))
    assert result["H2"]["unemployment_component"] == 0.0  # no working-age member
    assert result["H1"]["unemployment_component"] == 0.5
    assert result["H4"]["unemployment_component"] == 1.0  # p41's wage stopped before the last 3 months
    assert result["H3"]["shock_component"] == 1.0 and result["H5"]["shock_component"] == 1.0
    assert result["H8"]["dependency_component"] == 1.0  # 60 on D counts as elderly
    assert result["H8"]["illness_component"] == 0.0  # inpatient exactly D-365 is outside
    weighted = result["H2"]
    assert weighted["income_weighted"] == pytest.approx(0.4 * weighted["income_component"])


def test_household_without_head_takes_smallest_person_id_member(result):
    row = result["H4"]
    assert (row["region_code"], row["residence_type"], row["head_person_id"], row["head_registered"]) == (
        "371403002003",
        "2",
        "p41",
        False,
    )
    assert (row["county_code"], row["township_code"], row["village_code"]) == ("371403", "002", "003")


def test_deceased_and_moved_out_are_not_members_but_a_recent_death_is_a_shock(result):
    assert result["H5"]["size"] == 1 and result["H5"]["recent_deaths"] == 1


def test_low_income_is_strictly_below_twice_the_standard(result):
    assert "LOW_INCOME" not in result["H6"]["rules"]  # exactly 2 x 814
    assert "LOW_INCOME" in result["H7"]["rules"]  # 1627.99
    low = sorted(h for h, r in result.items() if "LOW_INCOME" in r["rules"])
    assert low == ["H2", "H3", "H4", "H7"]  # H4: 750 < 2 x 666


def test_top_index_takes_ceil_five_percent_ranked_by_index_then_household_id(result):
    n = len(EXPECTED)
    k = math.ceil(0.05 * n)
    order = sorted(EXPECTED, key=lambda h: (-EXPECTED[h][3], h))
    assert [result[h]["rank"] for h in order] == list(range(1, n + 1))
    assert sorted(h for h, r in result.items() if "TOP_INDEX" in r["rules"]) == sorted(order[:k])
    top = result[order[0]]
    assert top["percentile"] == pytest.approx(100 * (n - 1) / n)


def test_candidate_categories(result):
    assert sorted(result["H2"]["categories"]) == ["DIBAO", "TEKUN"]  # pensioner alone, no wage
    assert result["H3"]["categories"] == ["DIBAO"]
    assert result["H7"]["categories"] == []  # ratio 1.99998
    # ratio 3.69, 50000 >= 0.6 x 12 x 3000. Aged 60 with no wage, but at 3.69 x the standard
    # not TEKUN: categories v2 add the income test v1 lacked.
    assert result["H8"]["categories"] == ["RIGID_EXPENDITURE"]


def test_top_reasons_are_the_largest_weighted_components(result):
    assert result["H3"]["top_reasons"] == ["income", "unemployment", "dependency"]  # 0.4, 0.1, 0.075
    assert result["H6"]["top_reasons"] == []
    assert result["H1"]["top_reasons"] == ["unemployment"]


def test_money_sums_do_not_depend_on_the_order_spark_adds_rows_in(spark):
    # In doubles, (0.1 + 0.2) + 0.3 = 0.6000000000000001 but (0.3 + 0.2) + 0.1 = 0.6: summed
    # as doubles, the income would depend on the partitioning. Summed exactly it is
    # 0.60 yuan over 12 months, however the rows arrive.
    residents = spark.createDataFrame([person("q1", "Q1", "01", date(1980, 1, 1))], RESIDENT_COLUMNS)
    amounts = ["0.1", "0.2", "0.3"]
    payments = [(f"r{i}", "q1", INCOME_MONTHS[i], "wage_contribution", Decimal(a)) for i, a in enumerate(amounts)]
    settlements = [settlement(f"m{i}", "q1", "outpatient", a, date(2026, 3, 1 + i)) for i, a in enumerate(amounts)]
    seen = set()
    for order, partitions in ((lambda rows: rows, 1), (lambda rows: rows[::-1], 1), (lambda rows: rows, 3)):
        profiles = profiles_of(
            spark,
            residents,
            spark.createDataFrame(order(payments), PAYMENT_COLUMNS).repartition(partitions),
            spark.createDataFrame(order(settlements), SETTLEMENT_COLUMNS).repartition(partitions),
        )
        [row] = profiles.collect()
        seen.add((row["wage_income"], row["income"], row["oop_12m"]))
    assert seen == {(0.6 / 12, 0.6 / 12, 0.6)}


def test_money_with_a_third_decimal_place_is_refused_not_truncated(spark):
    # 0.005 yuan is half a fen: cast to whole fen it would vanish without a word.
    residents = spark.createDataFrame([person("q1", "Q1", "01", date(1980, 1, 1))], RESIDENT_COLUMNS)
    payments = spark.createDataFrame(
        [("r0", "q1", INCOME_MONTHS[0], "wage_contribution", Decimal("100.005"))],
        PAYMENT_COLUMNS.replace("decimal(14,2)", "decimal(14,3)"),
    )
    settlements = spark.createDataFrame(
        [settlement("m0", "q1", "outpatient", "1.00", date(2026, 3, 1))], SETTLEMENT_COLUMNS
    )
    with pytest.raises(ValueError, match=r"amount: .* at most 2 places; it is decimal\(14,3\)"):
        profiles_of(spark, residents, payments, settlements)
