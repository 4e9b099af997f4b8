"""The whole household (domain.md, "The second wave"): farm income, severe disability,
asset flags, index v2, categories v2 and Qixia's groups, on hand-written rows of the four
new sources. Every expected value is computed here by hand from the domain's formulas.

D = 2026-11-28: income months 2025-11..2026-10, unemployment months 2026-08..2026-10,
medical window (2025-11-28, 2026-11-28]. Standards: urban 814, rural 666. County 371403
prices grain land at 800 yuan a mu from 2026-01-01 (its own entry); every other item and
county takes the defaults (cattle 1500, poultry 8 a head)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import yaml

from pipelines.alerts.rules import apply_rules
from pipelines.contracts.files import schemas_dir
from pipelines.index.hardship import score
from pipelines.policy import load_policy
from pipelines.profile.household import household_profiles, lookup_tables, standards_table
from pipelines.profile.indicators import load_indicators
from tests.deliveries import PAYMENT_COLUMNS, RESIDENT_COLUMNS, SETTLEMENT_COLUMNS

D = date(2026, 11, 28)
URBAN, RURAL = 814.0, 666.0
INDICATORS = load_indicators(schemas_dir() / "indicators")
INCOME_MONTHS = [f"2025-{m:02d}" for m in (11, 12)] + [f"2026-{m:02d}" for m in range(1, 11)]
FARM_ITEMS = ["grain_land", "cash_crop_land", "orchard", "greenhouse", "cattle", "pig", "sheep", "poultry"]

AGRICULTURE_COLUMNS = "household_id string, item string, quantity decimal(12,2), year string"
DISABILITY_COLUMNS = "person_id string, disability_type string, grade string, certificate_date date"
VEHICLE_COLUMNS = "vehicle_id string, person_id string, vehicle_class string, registration_date date, status string"
PROPERTY_COLUMNS = "property_id string, person_id string, property_type string, floor_area decimal(10,2), status string"
BUSINESS_COLUMNS = (
    "credit_code string, person_id string, role string, enterprise_type string, "
    "registered_capital decimal(18,2), status string"
)


def person(pid, hh, rel, birth, rtype="1", region="371402001001"):
    return (pid, f"name-{pid}", "1", birth, hh, rel, region, rtype, "1", None)


def monthly(pid, item, amount):
    return [(f"{pid}-{item}-{m}", pid, m, item, Decimal(str(amount))) for m in INCOME_MONTHS]


AGED_40, AGED_70 = date(1986, 1, 1), date(1956, 1, 1)
RESIDENTS = [
    # F1 rural, county 371403: one farmer aged 40, no formal income, land and livestock.
    person("f1", "F1", "01", AGED_40, rtype="2", region="371403001001"),
    # S1 urban: head 40 earning 3000 a month, son 30 with a grade 1 (severe) disability, no wage.
    person("s1", "S1", "01", AGED_40),
    person("s2", "S1", "03", date(1996, 1, 1)),
    # T1: one pensioner aged 70 (300 a month); T2 the same with an active car; T3 an elderly
    # head and a severely disabled adult child, no income at all.
    person("t1", "T1", "01", AGED_70),
    person("t2", "T2", "01", AGED_70),
    person("t3", "T3", "01", AGED_70),
    person("t4", "T3", "03", AGED_40),
    # A*: one person aged 40 without income each (income ratio 0), and one asset fact each.
    *[person(f"a{i}", f"A{i}", "01", AGED_40) for i in range(1, 9)],
    # G1: head 35 and a child aged 10, no spouse; G2 the same with a spouse.
    person("g1", "G1", "01", date(1991, 1, 1)),
    person("g2", "G1", "03", date(2016, 1, 1)),
    person("g3", "G2", "01", date(1991, 1, 1)),
    person("g4", "G2", "02", date(1992, 1, 1)),
    person("g5", "G2", "03", date(2016, 1, 1)),
    # M1: 18 on D (not a minor); M2: 18 the day after D (a minor). Both heads, with wages.
    person("m1", "M1", "01", date(2008, 11, 28)),
    person("m2", "M2", "01", date(2008, 11, 29)),
    # P*: one person aged 40 without income each (P5: two), and real estate.
    *[person(f"p{i}", f"P{i}", "01", AGED_40) for i in range(1, 7)],
    person("p5b", "P5", "02", AGED_40),
    # I1: inpatient cost 3 x 814 = 2442.00 out of pocket 200 days before D; I2 2441.99.
    person("i1", "I1", "01", AGED_40),
    person("i2", "I2", "01", AGED_40),
]
PAYMENTS = [
    *monthly("s1", "wage_contribution", 3000),
    *monthly("t1", "pension", 300),
    *monthly("t2", "pension", 300),
    *monthly("m1", "wage_contribution", 5000),
    *monthly("m2", "wage_contribution", 5000),
    *monthly("i1", "wage_contribution", 5000),
    *monthly("i2", "wage_contribution", 5000),
]
SETTLEMENTS = [
    ("x1", "i1", "inpatient", None, None, None, Decimal("2442"), Decimal("0"), Decimal("2442.00"), date(2026, 5, 12)),
    ("x2", "i2", "inpatient", None, None, None, Decimal("2442"), Decimal("0"), Decimal("2441.99"), date(2026, 5, 12)),
]
AGRICULTURE = [
    ("F1", "grain_land", Decimal("10.00"), "2026"),  # 10 mu x 800 (county 371403's own)
    ("F1", "cattle", Decimal("2.00"), "2026"),  # 2 head x 1500
    ("F1", "poultry", Decimal("50.00"), "2026"),  # 50 head x 8
    ("GONE", "orchard", Decimal("99.00"), "2026"),  # a household with no registered member
]
DISABILITY = [
    ("s2", "4", "1", date(2020, 1, 1)),  # severe
    ("t4", "5", "2", date(2020, 1, 1)),  # severe
    ("g1", "2", "3", date(2020, 1, 1)),  # not severe: DISABLED group only
]
VEHICLES = [
    ("v1", "a1", "passenger_car", date(2020, 1, 1), "active"),
    ("v2", "a2", "passenger_car", date(2020, 1, 1), "scrapped"),
    ("v3", "a3", "motorcycle", date(2020, 1, 1), "active"),
    ("v4", "a4", "truck", date(2020, 1, 1), "active"),
    ("v5", "t2", "passenger_car", date(2020, 1, 1), "active"),
]
PROPERTY = [
    ("R1", "p1", "residential", Decimal("80.00"), "registered"),  # P1: one home
    ("R2", "p2", "residential", Decimal("80.00"), "registered"),  # P2: two homes
    ("R3", "p2", "residential", Decimal("45.50"), "registered"),
    ("R4", "p3", "residential", Decimal("80.00"), "registered"),  # P3: a second home cancelled
    ("R5", "p3", "residential", Decimal("60.00"), "cancelled"),
    ("R6", "p4", "commercial", Decimal("20.00"), "registered"),  # P4: one small shop
    ("R7", "p5", "residential", Decimal("90.00"), "registered"),  # P5: one home owned by both
    ("R7", "p5b", "residential", Decimal("90.00"), "registered"),
    ("R8", "p6", "commercial", Decimal("20.00"), "cancelled"),  # P6: a shop sold
    ("R9", "nobody", "commercial", Decimal("500.00"), "registered"),  # an owner in no household
]
BUSINESSES = [
    ("C5", "a5", "investor", "company", Decimal("10000.00"), "active"),
    ("C6", "a6", "legal_rep", "individual", Decimal("100000.00"), "active"),  # at the threshold
    ("C7", "a7", "legal_rep", "individual", Decimal("99999.99"), "active"),  # just under
    ("C8", "a8", "legal_rep", "company", Decimal("5000000.00"), "revoked"),
]


def policy_with_county_grain(tmp_path):
    defaults = load_policy()
    returns = [
        {"county": r.county, "item": r.item, "effective_from": r.effective_from, "annual_net_return": r.value}
        for r in defaults.farm_net_returns
    ]
    returns.append(
        {"county": "371403", "item": "grain_land", "effective_from": date(2026, 1, 1), "annual_net_return": 800}
    )
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"farm_net_returns": returns}), encoding="utf-8")
    return load_policy(path)


def scored(spark, policy, inputs):
    profiles = household_profiles(
        inputs,
        standards_table(spark, policy, D),
        lookup_tables(spark, policy, {"farm_net_returns": FARM_ITEMS}, D),
        INDICATORS,
        policy,
        D,
    )
    return {r["household_id"]: r for r in apply_rules(score(profiles, policy), policy).collect()}


def core_inputs(spark):
    return {
        "residents": spark.createDataFrame(RESIDENTS, RESIDENT_COLUMNS),
        "social_security": spark.createDataFrame(PAYMENTS, PAYMENT_COLUMNS),
        "medical_settlements": spark.createDataFrame(SETTLEMENTS, SETTLEMENT_COLUMNS),
    }


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return policy_with_county_grain(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="module")
def whole(spark, policy):
    inputs = {
        **core_inputs(spark),
        "agriculture": spark.createDataFrame(AGRICULTURE, AGRICULTURE_COLUMNS),
        "disability": spark.createDataFrame(DISABILITY, DISABILITY_COLUMNS),
        "vehicles": spark.createDataFrame(VEHICLES, VEHICLE_COLUMNS),
        "businesses": spark.createDataFrame(BUSINESSES, BUSINESS_COLUMNS),
        "property": spark.createDataFrame(PROPERTY, PROPERTY_COLUMNS),
    }
    return scored(spark, policy, inputs)


@pytest.fixture(scope="module")
def core_only(spark, policy):
    return scored(spark, policy, core_inputs(spark))


def clamp(x):
    return min(max(x, 0.0), 1.0)


def test_farm_income_of_a_mixed_holding_uses_the_county_return_and_the_defaults(whole):
    f1 = whole["F1"]
    annual = 10 * 800 + 2 * 1500 + 50 * 8  # 11,400 yuan a year
    assert f1["farm_income"] == pytest.approx(annual / 12)  # 950 a month
    assert f1["formal_income"] == 0.0
    assert f1["income"] == pytest.approx(950.0)
    assert f1["income_ratio"] == pytest.approx(950 / RURAL)  # 1.43: MARGINAL, no longer DIBAO
    assert f1["categories"] == ["MARGINAL"]
    assert "LOW_INCOME" in f1["rules"]  # 950 < 2 x 666
    # The alert says what farm income decided: on formal income alone it would be DIBAO.
    assert f1["farm_income_excludes"] == ["DIBAO"]
    assert f1["income_component"] == pytest.approx(clamp(1 - (950 / RURAL) / 2))
    assert "GONE" not in whole  # the holding of a household with no registered member is ignored


def test_a_severely_disabled_working_age_member_moves_from_unemployment_to_dependency(whole, core_only):
    with_disability, without = whole["S1"], core_only["S1"]
    # Without the disability source (v1): two working-age members, the son without wage.
    assert (without["dependents"], without["able_working_age"], without["working_age_without_wage"]) == (0, 2, 1)
    assert without["dependency_component"] == 0.0
    assert without["unemployment_component"] == 0.5
    # With it: the son is a dependent and out of the unemployment share.
    assert with_disability["severely_disabled"] == 1
    assert (with_disability["dependents"], with_disability["able_working_age"]) == (1, 1)
    assert with_disability["working_age_without_wage"] == 0
    assert with_disability["dependency_component"] == 0.5
    assert with_disability["unemployment_component"] == 0.0
    ratio = 3000 / 2 / URBAN
    expected = round(100 * (0.40 * clamp(1 - ratio / 2) + 0.15 * 0.5), 4)
    assert with_disability["hardship_index"] == pytest.approx(expected)
    assert with_disability["groups"] == ["DISABLED"]


@pytest.mark.parametrize(
    ("household", "flags"),
    [
        ("A1", ["VEHICLE"]),  # an active passenger car
        ("A2", []),  # a scrapped one
        ("A3", []),  # a motorcycle does not count
        ("A4", ["VEHICLE"]),  # an active truck
        ("A5", ["BUSINESS"]),  # investor of an active company, whatever its capital
        ("A6", ["BUSINESS"]),  # an individual business of exactly 100,000
        ("A7", []),  # 99,999.99
        ("A8", []),  # a revoked company
    ],
)
def test_each_asset_rule_at_and_around_its_threshold(whole, household, flags):
    row = whole[household]
    assert row["asset_flags"] == flags
    assert row["income_ratio"] == 0.0
    # Income alone makes every one of them a DIBAO candidate; an asset flag excludes it.
    assert row["categories"] == ([] if flags else ["DIBAO"])
    assert row["assets_exclude"] == (["DIBAO"] if flags else [])


@pytest.mark.parametrize(
    ("household", "homes", "shops", "flags"),
    [
        ("P1", 1, 0, []),
        ("P2", 2, 0, ["PROPERTY"]),  # two or more homes
        ("P3", 1, 0, []),  # the cancelled one does not count
        ("P4", 0, 1, ["PROPERTY"]),  # any commercial property
        ("P5", 1, 0, []),  # one home owned jointly by two members counts once
        ("P6", 0, 0, []),
    ],
)
def test_the_property_flag_declared_without_code(whole, household, homes, shops, flags):
    row = whole[household]
    assert (row["residential_properties"], row["commercial_properties"]) == (homes, shops)
    assert row["asset_flags"] == flags
    assert row["categories"] == ([] if flags else ["DIBAO"])


def test_tekun_has_an_income_test_and_counts_severe_disability_as_dependency(whole, core_only):
    assert whole["T1"]["income_ratio"] == pytest.approx(300 / URBAN)
    assert whole["T1"]["categories"] == ["DIBAO", "TEKUN"]  # 70, no wage, ratio 0.37
    assert whole["T2"]["asset_flags"] == ["VEHICLE"]
    assert whole["T2"]["categories"] == []  # the same with a car: neither
    assert whole["T2"]["assets_exclude"] == ["DIBAO", "TEKUN"]
    # An elderly head and a severely disabled adult child, no income: every member a dependent.
    assert whole["T3"]["dependents"] == 2
    assert whole["T3"]["categories"] == ["DIBAO", "TEKUN"]
    # Without the disability source the child is working-age: not TEKUN.
    assert core_only["T3"]["categories"] == ["DIBAO"]


def test_each_group(whole):
    assert whole["G1"]["groups"] == ["DISABLED", "MINOR", "SINGLE_PARENT", "UNEMPLOYED_ABLE"]
    assert whole["G2"]["groups"] == ["MINOR", "UNEMPLOYED_ABLE"]  # a spouse: not a single parent
    assert whole["M1"]["groups"] == []  # 18 on D: not a minor; wage earner
    assert whole["M2"]["groups"] == ["MINOR"]  # 17 until the day after D
    assert whole["T1"]["groups"] == ["ELDERLY"]
    assert whole["I1"]["groups"] == ["SERIOUS_ILLNESS"]  # 2442.00 >= 3 x 814
    assert whole["I2"]["groups"] == []  # 2441.99
    # 200 days before D is outside the 90-day shock window: a group, not a shock.
    assert whole["I1"]["shock_component"] == 0.0


def test_without_the_new_sources_index_and_rules_equal_v1(core_only):
    """v1's formulas by hand (dependency: children and elderly; unemployment over all
    working-age members; income: formal only) on the households the new sources change."""
    for household, size, income, dependents, working, without_wage, standard in (
        ("F1", 1, 0.0, 0, 1, 1, RURAL),
        ("S1", 2, 3000.0, 0, 2, 1, URBAN),
        ("T3", 2, 0.0, 1, 1, 1, URBAN),
        ("A1", 1, 0.0, 0, 1, 1, URBAN),
    ):
        row = core_only[household]
        ratio = income / size / standard
        value = 0.40 * clamp(1 - ratio / 2) + 0.15 * dependents / size + 0.10 * without_wage / working
        assert row["hardship_index"] == pytest.approx(round(100 * value, 4)), household
        assert row["rules"][-1] == "LOW_INCOME" or ratio >= 2
        assert row["farm_income"] == 0.0 and row["asset_flags"] == [] and row["severely_disabled"] == 0
        assert row["assets_exclude"] == [] and row["farm_income_excludes"] == []
