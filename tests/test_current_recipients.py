"""Current recipients (domain.md, "Rules v2" and "Dynamic monitoring v2"): programme
status, EXIT_REVIEW and each exit reason at and around its threshold, the spot-check draw,
RELAPSE_RISK, urgency, newly_found, the last visit, and roll exceptions, on hand-written
rows of the assistance roll, relapse monitoring and visit outcomes. Every expected value is
computed here by hand from the domain's formulas (the spot draw with Python's own hmac).

D = 2026-11-28; every household is urban in county 371402 (S = 814) unless it says so, and
its members are aged 40 unless it says so. Income is a wage paid in each of the 12 income
months, so the monthly income is that wage."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from pipelines.alerts.rules import apply_rules
from pipelines.contracts.files import schemas_dir
from pipelines.index.hardship import score
from pipelines.policy import load_policy
from pipelines.profile.household import household_profiles, lookup_tables, standards_table
from pipelines.profile.indicators import load_indicators
from pipelines.profile.roll import left_off_roll, roll_exceptions
from pipelines.pseudonym import spot_number
from tests.deliveries import PAYMENT_COLUMNS, RESIDENT_COLUMNS, SETTLEMENT_COLUMNS

D = date(2026, 11, 28)
S = 814.0
KEY = b"spot-check test key"
POLICY = load_policy()
INDICATORS = load_indicators(schemas_dir() / "indicators")
INCOME_MONTHS = [f"2025-{m:02d}" for m in (11, 12)] + [f"2026-{m:02d}" for m in range(1, 11)]
FARM_ITEMS = ["grain_land", "cash_crop_land", "orchard", "greenhouse", "cattle", "pig", "sheep", "poultry"]
AGED_40, AGED_70 = date(1986, 1, 1), date(1956, 1, 1)

ROLL_COLUMNS = (
    "household_id string, person_id string, programme string, approval_date date, approval_mode string, "
    "declared_income decimal(14,2), monthly_benefit decimal(12,2)"
)
MONITORING_COLUMNS = "household_id string, status string, since_date date"
VISIT_COLUMNS = "visit_id string, household_id string, visit_date date, outcome string, decided_programme string"
VEHICLE_COLUMNS = "vehicle_id string, person_id string, vehicle_class string, registration_date date, status string"


def person(pid, hh, rel="01", birth=AGED_40, status="1", status_date=None):
    return (pid, f"name-{pid}", "1", birth, hh, rel, "371402001001", "1", status, status_date)


def wage(pid, amount):
    return [(f"{pid}-{m}", pid, m, "wage_contribution", Decimal(amount)) for m in INCOME_MONTHS]


def pension(pid, amount):
    return [(f"{pid}-{m}", pid, m, "pension", Decimal(amount)) for m in INCOME_MONTHS]


def roll(hh, pid, programme, declared="0", mode="investigated", approved=date(2024, 3, 1), benefit="300.00"):
    return (hh, pid, programme, approved, mode, Decimal(declared), Decimal(benefit))


# Households with one member aged 40 and a wage of `amount` a month, each on one programme.
ONE_EARNER = {
    # income_above_line: dibao and tekun from income_ratio 1.0 (814.00), marginal from 1.5 (1221.00)
    "E1": ("814.00", "dibao"),
    "E2": ("813.99", "dibao"),
    "E3": ("1221.00", "marginal"),
    "E4": ("1220.99", "marginal"),
    "E5": ("5000.00", "rigid_expenditure"),  # no income line for rigid expenditure
    # on dibao and marginal: the programme is dibao (the first), so 1000.00 (ratio 1.23) is above its line
    "E7": ("1000.00", "dibao+marginal"),
    "A1": ("0.00", "dibao"),  # an active car
    # declared_income_understated (credit): income - declared > max(0.2 x declared, 100)
    "C1": ("600.00", "rigid_expenditure"),  # declared 500: 100.00 over is not more than 100
    "C2": ("600.01", "rigid_expenditure"),  # declared 500: 100.01 over
    "C3": ("1200.00", "rigid_expenditure"),  # declared 1000: 200.00 over is not more than 0.2 x 1000
    "C4": ("1200.01", "rigid_expenditure"),  # declared 1000: 200.01 over
    "C5": ("5000.00", "rigid_expenditure"),  # investigated, declared 0: not a credit approval
}
DECLARED = {"C1": "500.00", "C2": "500.00", "C3": "1000.00", "C4": "1000.00"}

RESIDENTS = [
    *[person(hh.lower(), hh) for hh in ONE_EARNER],
    # E6: a pensioner aged 70 on tekun at exactly the line (pension 814.00)
    person("e6", "E6", birth=AGED_70),
    # C6: two members, both on the roll, credit on one row only; declared 300 and 500: the
    # largest (500) counts, so 550.00 is 50 over, not understated (300 would make it 250)
    person("c6", "C6"),
    person("c6b", "C6", rel="02"),
    # M1: a roll row for a member who has died; M2: for one who moved to household OTHER;
    # M3: for a person the registry does not have; M4: a future approval for an unregistered
    # person (not in force on D) and an in-force row for its registered member.
    person("m1", "M1"),
    person("m1x", "M1", rel="02", status="2", status_date=date(2026, 6, 1)),
    person("m2", "M2"),
    person("mv", "OTHER"),
    person("m3", "M3"),
    person("m4", "M4"),
    # R*: relapse monitoring. R1 lifted at ratio 1.49 (1212.86 of 814), R2 lifted at 1.5,
    # R3 monitored at ratio 3 with a death in the household this year, R4 risk_cleared at
    # ratio 0, R5 lifted at ratio 3 with out-of-pocket 4884.00 (medical component 0.5), R6
    # the same with 4883.99.
    person("r1", "R1"),
    person("r2", "R2"),
    person("r3", "R3"),
    person("r3x", "R3", rel="02", status="2", status_date=date(2026, 9, 1)),
    person("r4", "R4"),
    person("r5", "R5"),
    person("r6", "R6"),
    # U*: urgency. U1 a death this year and no income (URGENT); U2 no income, on no programme
    # (SAFETY_NET, newly found); U3 no income, on marginal (SAFETY_NET); U4 no income, on
    # dibao (WATCH); U5 ratio 1.2 (MARGINAL: CARE); U6 ratio 1.8 (LOW_INCOME only: WATCH).
    person("u1", "U1"),
    person("u1x", "U1", rel="02", status="2", status_date=date(2026, 10, 1)),
    person("u2", "U2"),
    person("u3", "U3"),
    person("u4", "U4"),
    person("u5", "U5"),
    person("u6", "U6"),
    # V1: visits; V2: a visit only after D.
    person("v1", "V1"),
    person("v2", "V2"),
]
PAYMENTS = [
    *[row for hh, (amount, _) in ONE_EARNER.items() for row in wage(hh.lower(), amount)],
    *pension("e6", "814.00"),
    *wage("c6", "550.00"),
    *wage("m1", "5000.00"),
    *wage("m2", "5000.00"),
    *wage("m3", "5000.00"),
    *wage("m4", "5000.00"),
    *wage("r1", "1212.86"),
    *wage("r2", "1221.00"),
    *wage("r3", "2442.00"),
    *wage("r5", "2442.00"),
    *wage("r6", "2442.00"),
    *wage("u5", "976.80"),
    *wage("u6", "1465.20"),
    *wage("v1", "5000.00"),
    *wage("v2", "5000.00"),
]
SETTLEMENTS = [
    ("s5", "r5", "outpatient", None, None, None, Decimal("4884"), Decimal("0"), Decimal("4884.00"), date(2026, 5, 1)),
    ("s6", "r6", "outpatient", None, None, None, Decimal("4884"), Decimal("0"), Decimal("4883.99"), date(2026, 5, 1)),
]
ROLL = [
    *[
        roll(hh, hh.lower(), programme, DECLARED.get(hh, "0"), "credit" if hh in DECLARED else "investigated")
        for hh, (_, programme) in ONE_EARNER.items()
        if "+" not in programme
    ],
    roll("E7", "e7", "marginal"),
    roll("E7", "e7", "dibao"),
    roll("E6", "e6", "tekun"),
    roll("C6", "c6", "marginal", "300.00", "credit"),
    roll("C6", "c6b", "marginal", "500.00", "investigated"),
    roll("M1", "m1", "rigid_expenditure"),
    roll("M1", "m1x", "rigid_expenditure"),
    roll("M2", "m2", "rigid_expenditure"),
    roll("M2", "mv", "rigid_expenditure"),
    roll("M3", "m3", "rigid_expenditure"),
    roll("M3", "nobody", "rigid_expenditure"),
    roll("M4", "m4", "rigid_expenditure"),
    roll("M4", "later", "rigid_expenditure", approved=date(2026, 12, 1)),
    roll("U3", "u3", "marginal"),
    roll("U4", "u4", "dibao"),
    # X1: a household on the roll with nobody registered left (a roll exception)
    roll("X1", "x1", "dibao", benefit="400.00"),
    roll("X1", "x2", "dibao", benefit="400.00"),
    roll("X1", "x3", "dibao", benefit="400.00"),
    roll("X1", "x4", "dibao", benefit="400.00"),
]
ROLL_EXCEPTION_RESIDENTS = [
    person("x1", "X1", status="2", status_date=date(2026, 3, 1)),
    person("x2", "X1", rel="02", status="3", status_date=date(2026, 4, 1)),
    person("x4", "Y1"),  # now registered in household Y1
]
MONITORING = [
    ("R1", "lifted", date(2021, 1, 1)),
    ("R2", "lifted", date(2021, 1, 1)),
    ("R3", "monitored", date(2025, 1, 1)),
    ("R4", "risk_cleared", date(2024, 1, 1)),
    ("R5", "lifted", date(2021, 1, 1)),
    ("R6", "lifted", date(2021, 1, 1)),
]
VISITS = [
    ("v1a", "V1", date(2026, 10, 1), "confirmed", "dibao"),
    ("v1b", "V1", date(2026, 11, 1), "not_eligible", "none"),
    ("v1c", "V1", date(2026, 11, 1), "already_assisted", "none"),  # same day, greater visit_id: the last
    ("v2a", "V2", date(2026, 12, 1), "not_eligible", "none"),  # after D
]
VEHICLES = [("car", "a1", "passenger_car", date(2020, 1, 1), "active")]


def ruled(spark, inputs):
    """The profiles, index and rules of the inputs, with the spot draw under KEY."""
    lookups = lookup_tables(spark, POLICY, {"farm_net_returns": FARM_ITEMS}, D)
    profiles = household_profiles(inputs, standards_table(spark, POLICY, D), lookups, INDICATORS, POLICY, D)
    return apply_rules(score(profiles, POLICY), POLICY, spot_number(F.col("household_id"), KEY, D)).collect()


@pytest.fixture(scope="module")
def households(spark):
    inputs = {
        "residents": spark.createDataFrame(RESIDENTS + ROLL_EXCEPTION_RESIDENTS, RESIDENT_COLUMNS),
        "social_security": spark.createDataFrame(PAYMENTS, PAYMENT_COLUMNS),
        "medical_settlements": spark.createDataFrame(SETTLEMENTS, SETTLEMENT_COLUMNS),
        "assistance_roll": spark.createDataFrame(ROLL, ROLL_COLUMNS),
        "relapse_monitoring": spark.createDataFrame(MONITORING, MONITORING_COLUMNS),
        "visit_outcomes": spark.createDataFrame(VISITS, VISIT_COLUMNS),
        "vehicles": spark.createDataFrame(VEHICLES, VEHICLE_COLUMNS),
    }
    return {r["household_id"]: r for r in ruled(spark, inputs)}


def test_the_registry_is_shuffled_by_person_once_for_the_roll_and_the_real_estate(spark, no_automatic_broadcast):
    """A large city's roll and real estate both match persons to households by sorting the
    registry by person: one shuffle of it serves both (the second is Spark's reuse)."""
    inputs = {
        "residents": spark.createDataFrame(RESIDENTS, RESIDENT_COLUMNS),
        "assistance_roll": spark.createDataFrame(ROLL, ROLL_COLUMNS),
        "property": spark.createDataFrame(
            [("H1", "e1", "residential", Decimal("90.00"), "registered")],
            "property_id string, person_id string, property_type string, floor_area decimal(10,2), status string",
        ),
    }
    lookups = lookup_tables(spark, POLICY, {"farm_net_returns": FARM_ITEMS}, D)
    profiles = household_profiles(inputs, standards_table(spark, POLICY, D), lookups, INDICATORS, POLICY, D)
    profiles.collect()  # adaptive execution settles the final plan
    plan = profiles._jdf.queryExecution().executedPlan().toString()
    reused = re.findall(r"ReusedExchange \[person_id#\d+, registered_household_id#\d+\]", plan)
    assert len(reused) == 1, plan


def by_hand_spot(household_id: str, month: str = "2026-11", key: bytes = KEY) -> float:
    digest = hmac.new(key, f"spot-check|{month}|{household_id}".encode(), hashlib.sha256).hexdigest()
    return int(digest[:8], 16) / 2**32


def test_the_programme_is_the_first_in_force_by_the_policy_order(households):
    assert households["E1"]["programme"] == "dibao"
    assert households["E7"]["programme"] == "dibao"  # dibao before marginal
    assert households["C6"]["programme"] == "marginal"
    assert households["U2"]["programme"] is None
    assert households["M4"]["programme"] == "rigid_expenditure"


@pytest.mark.parametrize(
    ("household", "reasons"),
    [
        ("E1", ["income_above_line"]),  # dibao at ratio 1.0
        ("E2", []),  # dibao at 813.99
        ("E3", ["income_above_line"]),  # marginal at ratio 1.5
        ("E4", []),
        ("E5", []),  # rigid expenditure: no line
        ("E6", ["income_above_line"]),  # tekun at ratio 1.0
        ("E7", ["income_above_line"]),  # dibao (first of its two) at ratio 1.23
        ("A1", ["asset"]),
        ("C1", []),
        ("C2", ["declared_income_understated"]),
        ("C3", []),
        ("C4", ["declared_income_understated"]),
        ("C5", []),
        ("C6", []),  # the largest declared income counts
        ("M1", ["member_not_registered"]),  # a member who died
        ("M2", ["member_not_registered"]),  # a member who moved to another household
        ("M3", ["member_not_registered"]),  # a person the registry does not have
        ("M4", []),  # the unregistered person's row is not in force yet
        ("U2", []),  # on no programme: never up for exit review
    ],
)
def test_each_exit_reason_at_and_around_its_threshold(households, household, reasons):
    row = households[household]
    assert row["exit_reasons"] == reasons
    assert ("EXIT_REVIEW" in row["rules"]) == bool(reasons)


def test_declared_income_is_the_largest_declared_and_credit_any_row(households):
    assert households["C6"]["declared_income"] == pytest.approx(500.0)
    assert households["C6"]["roll_credit"] is True
    assert households["C5"]["roll_credit"] is False
    assert households["U2"]["declared_income"] is None


def test_spot_checks_are_the_credit_households_drawn_below_5_percent(households):
    on_credit = {hh for hh, row in households.items() if row["programme"] is not None and row["roll_credit"]}
    assert on_credit == {"C1", "C2", "C3", "C4", "C6"}
    expected = {hh for hh in on_credit if by_hand_spot(hh) < 0.05}
    assert {hh for hh, row in households.items() if "SPOT_CHECK" in row["rules"]} == expected


def test_the_spot_draw_over_many_households_is_near_5_percent_fixed_in_a_month_and_keyed(spark):
    ids = spark.createDataFrame([(f"37140200{i:06d}",) for i in range(20000)], "household_id string")

    def drawn(as_of: date, key: bytes) -> set[str]:
        number = spot_number(F.col("household_id"), key, as_of)
        return {r[0] for r in ids.where(number < 0.05).collect()}

    november = drawn(D, KEY)
    assert 0.045 < len(november) / 20000 < 0.055  # 1,000 expected; sd about 31
    assert november == {f"37140200{i:06d}" for i in range(20000) if by_hand_spot(f"37140200{i:06d}") < 0.05}
    assert drawn(date(2026, 11, 1), KEY) == november  # the same all month
    assert drawn(date(2026, 11, 30), KEY) == november
    december, other_key = drawn(date(2026, 12, 1), KEY), drawn(D, b"another key")
    # a fresh draw: about 5% of November's would be drawn again by chance
    assert len(december & november) < 0.15 * len(november)
    assert len(other_key & november) < 0.15 * len(november)


@pytest.mark.parametrize(
    ("household", "status", "relapse_risk"),
    [
        ("R1", "lifted", True),  # ratio 1.49
        ("R2", "lifted", False),  # ratio 1.5
        ("R3", "monitored", True),  # a shock
        ("R4", "risk_cleared", False),
        ("R5", "lifted", True),  # medical component 4884 / (12 x 814) = 0.5
        ("R6", "lifted", False),  # 4883.99: just under 0.5
        ("U2", None, False),
    ],
)
def test_relapse_risk(households, household, status, relapse_risk):
    row = households[household]
    assert row["relapse_status"] == status
    assert ("RELAPSE_RISK" in row["categories"]) == relapse_risk
    if household == "R5":
        assert row["medical_component"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("household", "urgency", "newly_found"),
    [
        ("U1", "URGENT", True),  # shock and ratio 0
        ("U2", "SAFETY_NET", True),  # a DIBAO candidate on no programme
        ("U3", "SAFETY_NET", False),  # a DIBAO candidate on marginal
        ("U4", "WATCH", False),  # a DIBAO candidate already on dibao
        ("U5", "CARE", True),  # ratio 1.2: MARGINAL
        ("U6", "WATCH", True),  # ratio 1.8: LOW_INCOME, no category
        ("E5", None, False),  # not alerted
    ],
)
def test_urgency_and_newly_found(households, household, urgency, newly_found):
    row = households[household]
    assert row["urgency"] == urgency
    assert row["newly_found"] is newly_found


def test_the_last_visit_is_the_latest_by_date_then_visit_id_and_none_after_d(households):
    assert (households["V1"]["last_visit_date"], households["V1"]["last_visit_outcome"]) == (
        date(2026, 11, 1),
        "already_assisted",
    )
    assert (households["V2"]["last_visit_date"], households["V2"]["last_visit_outcome"]) == (None, None)


def test_without_the_new_sources_no_programme_no_visit_and_no_new_rules(spark):
    inputs = {
        "residents": spark.createDataFrame(RESIDENTS, RESIDENT_COLUMNS),
        "social_security": spark.createDataFrame(PAYMENTS, PAYMENT_COLUMNS),
        "medical_settlements": spark.createDataFrame(SETTLEMENTS, SETTLEMENT_COLUMNS),
    }
    rows = ruled(spark, inputs)
    assert {(r["programme"], r["relapse_status"], r["last_visit_date"], r["declared_income"]) for r in rows} == {
        (None, None, None, None)
    }
    assert not any({"EXIT_REVIEW", "SPOT_CHECK"} & set(r["rules"]) or "RELAPSE_RISK" in r["categories"] for r in rows)


@pytest.mark.parametrize("held", [False, True])
def test_roll_exceptions_list_the_households_with_nobody_registered_left(spark, households, held):
    """Matched with the registry by a join, or with the persons held (a large city's few)."""
    residents = spark.createDataFrame(RESIDENTS + ROLL_EXCEPTION_RESIDENTS, RESIDENT_COLUMNS)
    scored = spark.createDataFrame([(hh,) for hh in households], "household_id string")
    left_off = left_off_roll(spark.createDataFrame(ROLL, ROLL_COLUMNS), scored, D)
    persons = [r["person_id"] for r in left_off.collect()] if held else None
    got = {
        r["person_id"]: (r["household_id"], r["registry_status"], r["registry_household_id"], r["monthly_benefit"])
        for r in roll_exceptions(left_off, residents, persons).collect()
    }
    assert got == {
        "x1": ("X1", "deceased", None, 400.0),
        "x2": ("X1", "moved_out", None, 400.0),
        "x3": ("X1", "absent", None, 400.0),
        "x4": ("X1", "registered", "Y1", 400.0),
    }
