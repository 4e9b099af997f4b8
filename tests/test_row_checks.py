"""Every kind of bad row the contracts know, checked line by line with hand-written
expected reasons, on inline deliveries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.contracts import load_contracts
from pipelines.ingest.rows import check_rows, flag_duplicates
from pipelines.settings import PROJECT_ROOT
from tests.deliveries import resident_id

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
A = resident_id("371402", "19800101", 11)  # male
B = resident_id("371402", "19820202", 22)  # female
BAD_CHECK = A[:-1] + ("1" if A[-1] != "1" else "2")
# The one-line cases are delivered on this date and the days after it (one case a day),
# later than every date in them unless a case says otherwise.
CASES_DELIVERED = date(2027, 1, 1)


def reasons_per_case(spark, source: str, lines: list[str]) -> list[list[str]]:
    """Check many one-line cases in one Spark job: each case is its own delivery (its own
    extract_date), so duplicate detection never mixes cases."""
    contract = CONTRACTS[source]
    df = spark.createDataFrame(
        [(CASES_DELIVERED + timedelta(days=i), "f.csv", 1, 2, text) for i, text in enumerate(lines)],
        "extract_date date, source_file string, file_ordinal int, line_number long, raw_text string",
    )
    checked = flag_duplicates(check_rows(df, contract, list(range(len(contract.columns)))))
    by_date = {r["extract_date"]: sorted(r["reasons"]) for r in checked.collect()}
    return [by_date[CASES_DELIVERED + timedelta(days=i)] for i in range(len(lines))]


_RESULTS: dict[str, list[list[str]]] = {}


def case_reasons(spark, source: str, cases: list[tuple[str, list[str]]], index: int) -> list[str]:
    if source not in _RESULTS:
        _RESULTS[source] = reasons_per_case(spark, source, [line for line, _ in cases])
    return _RESULTS[source][index]


def reasons_by_line(spark, source: str, lines: list[str]) -> dict[int, list[str]]:
    """Run lines 2.. of one delivery through the row checks; reasons per line number."""
    contract = CONTRACTS[source]
    df = spark.createDataFrame(
        [(date(2026, 11, 20), "f.csv", 1, i + 2, text) for i, text in enumerate(lines)],
        "extract_date date, source_file string, file_ordinal int, line_number long, raw_text string",
    )
    checked = flag_duplicates(check_rows(df, contract, list(range(len(contract.columns)))))
    return {r["line_number"]: sorted(r["reasons"]) for r in checked.collect()}


def resident(
    pid=A,
    name="张三",
    gender="1",
    birth="19800101",
    hh="H1",
    rel="01",
    region="371402001001",
    rtype="1",
    status="1",
    status_date="",
) -> str:
    return ",".join([pid, name, gender, birth, hh, rel, region, rtype, status, status_date])


RESIDENT_CASES = [
    (resident(), []),
    (resident(pid=B, name="李四", gender="2", birth="19820202", status="2", status_date="20260301"), []),
    (resident()[:-1].rsplit(",", 1)[0], ["row:wrong_field_count"]),  # one field missing
    (resident() + ",extra", ["row:wrong_field_count"]),
    ("", ["row:wrong_field_count"]),  # an empty line
    (resident(name='"张,三'), ["row:unbalanced_quotes"]),
    (resident(name='"张,三"'), []),  # a quoted comma is one field
    (resident(pid=BAD_CHECK), ["person_id:bad_check_character"]),
    (resident(birth="19800102"), ["rule:birth_date_matches_id"]),
    (resident(gender="2"), ["rule:gender_matches_id"]),
    (resident(gender="3"), ["gender:not_in_codes"]),
    (resident(birth="19800231"), ["birth_date:bad_date"]),  # impossible date; rule not judged
    (resident(rel="07"), ["relation_to_head:not_in_codes"]),
    (resident(rel="1"), ["relation_to_head:not_in_codes"]),
    (resident(region="37140200100"), ["region_code:bad_pattern"]),
    (resident(rtype="3"), ["residence_type:not_in_codes"]),
    (resident(status="4"), ["status:not_in_codes"]),
    (resident(status="2", status_date="20261301"), ["status_date:bad_date"]),
    (resident(status="2", status_date="2026-03-01"), ["status_date:bad_date"]),
    (resident(status="1", status_date="20260301"), ["rule:status_date_matches_status"]),
    (resident(status="3"), ["rule:status_date_matches_status"]),
    (resident(hh=""), ["household_id:missing"]),
    (resident(status="2", status_date="19791231"), ["rule:status_changed_after_birth"]),
    (resident(status="3", status_date="19800101"), []),  # a move on the day of birth holds
    (resident(status="2", status_date="20270301"), ["rule:not_dated_after_delivery"]),  # after its delivery
    (resident(name="", gender="5", rel="00"), ["gender:not_in_codes", "name:missing", "relation_to_head:not_in_codes"]),
]


@pytest.mark.parametrize("index", range(len(RESIDENT_CASES)), ids=[c[0][:40] or "empty" for c in RESIDENT_CASES])
def test_resident_row_reasons(spark, index):
    assert case_reasons(spark, "residents", RESIDENT_CASES, index) == RESIDENT_CASES[index][1]


def settlement(
    sid="S1",
    pid=A,
    visit="inpatient",
    adm="2026-10-01",
    dis="2026-10-05",
    dx="I10",
    total="1000.00",
    fund="600.00",
    oop="400.00",
    day="2026-10-05",
) -> str:
    return ",".join([sid, pid, visit, adm, dis, dx, total, fund, oop, day])


SETTLEMENT_CASES = [
    (settlement(), []),
    (settlement(visit="outpatient", adm="", dis="", dx="", total="100", fund="50", oop="50"), []),
    (settlement(total="100.005", fund="50", oop="50.005"), ["out_of_pocket:bad_number", "total_cost:bad_number"]),
    (settlement(visit="emergency"), ["visit_type:not_in_codes"]),
    (settlement(day="2026/10/05"), ["settlement_date:bad_date"]),
    (settlement(adm="2026-02-30"), ["admission_date:bad_date"]),
    (settlement(total="12,5a"), ["row:wrong_field_count"]),
    (settlement(total='"12,5a"'), ["total_cost:bad_number"]),
    (settlement(total="-10", fund="0", oop="-10"), ["out_of_pocket:below_minimum", "total_cost:below_minimum"]),
    (settlement(oop="400.02"), ["rule:out_of_pocket_is_cost_minus_fund"]),
    (settlement(oop="400.01"), []),  # within 0.01 holds
    (settlement(sid=""), ["settlement_id:missing"]),
    (settlement(pid="371402198001011"), ["person_id:bad_format"]),
    (settlement(day=""), ["settlement_date:missing"]),
    (settlement(adm=""), ["rule:inpatient_stay_has_its_dates"]),
    (settlement(dis=""), ["rule:inpatient_stay_has_its_dates"]),
    (settlement(visit="chronic_outpatient", adm="", dis=""), []),
    (settlement(adm="2026-10-06"), ["rule:admitted_before_discharged", "rule:settled_after_admission"]),
    (settlement(adm="2026-10-05"), []),  # admitted, discharged and settled on one day
    (settlement(adm="2026-09-01", dis="2026-10-20", day="2026-09-30"), []),  # an interim settlement
    (settlement(adm="2027-03-01", dis="2027-03-02", day="2027-03-02"), ["rule:not_dated_after_delivery"]),
    (settlement(dis="2027-03-02", day="2026-10-05"), ["rule:not_dated_after_delivery"]),
]


@pytest.mark.parametrize("index", range(len(SETTLEMENT_CASES)), ids=[c[0][:40] for c in SETTLEMENT_CASES])
def test_settlement_row_reasons(spark, index):
    assert case_reasons(spark, "medical_settlements", SETTLEMENT_CASES, index) == SETTLEMENT_CASES[index][1]


PAYMENT_CASES = [
    (f"P1,{A},202610,wage_contribution,4500", []),
    (f"P1,{A},202610,pension,0", []),
    (f"P1,{A},202613,pension,100", ["period:bad_date"]),
    (f"P1,{A},2026-05,pension,100", ["period:bad_date"]),
    (f"P1,{A},202605,bonus,100", ["item:not_in_codes"]),
    (f"P1,{A},202605,pension,-1", ["amount:below_minimum"]),
    (f"P1,{A},202605,pension,abc", ["amount:bad_number"]),
    (f",{A},202605,pension,1", ["record_id:missing"]),
    (f"P1,{BAD_CHECK},202605,pension,1", ["person_id:bad_check_character"]),
    (f"P1,{A},202605,pension", ["row:wrong_field_count"]),
    (f"P1,{A},202701,pension,100", []),  # the month of its delivery
    (f"P1,{A},202702,pension,100", ["rule:not_for_a_later_month"]),
]


@pytest.mark.parametrize("index", range(len(PAYMENT_CASES)), ids=[c[0][:40] for c in PAYMENT_CASES])
def test_payment_row_reasons(spark, index):
    assert case_reasons(spark, "social_security", PAYMENT_CASES, index) == PAYMENT_CASES[index][1]


def test_conflicting_duplicate_key_makes_every_such_row_bad(spark):
    lines = [
        f"P1,{A},202610,pension,100",
        f"P1,{A},202610,pension,200",  # same key, other content
        f"P2,{A},202610,pension,100",
        f"P1,{A},202610,pension,100",  # exact copy of the first, but the key conflicts anyway
    ]
    assert reasons_by_line(spark, "social_security", lines) == {
        2: ["key:conflicting_duplicate"],
        3: ["key:conflicting_duplicate"],
        4: [],
        5: ["key:conflicting_duplicate"],
    }


def test_exact_duplicate_lines_keep_the_first_and_quarantine_the_rest(spark):
    line = f"P1,{A},202610,pension,100"
    assert reasons_by_line(spark, "social_security", [f"P0,{A},202610,pension,1", line, line, line]) == {
        2: [],
        3: [],
        4: ["key:duplicate_line"],
        5: ["key:duplicate_line"],
    }


def test_rows_without_a_key_take_no_part_in_duplicate_checks(spark):
    line = f",{A},202610,pension,100"
    assert reasons_by_line(spark, "social_security", [line, line]) == {
        2: ["record_id:missing"],
        3: ["record_id:missing"],
    }


def test_identical_lines_in_two_files_of_one_delivery_keep_the_first_file(spark):
    contract = CONTRACTS["social_security"]
    line = f"P1,{A},202610,pension,100"
    df = spark.createDataFrame(
        [(date(2026, 11, 10), "payments_2.csv", 2, 2, line), (date(2026, 11, 10), "payments_1.csv", 1, 9, line)],
        "extract_date date, source_file string, file_ordinal int, line_number long, raw_text string",
    )
    checked = flag_duplicates(check_rows(df, contract, list(range(5))))
    assert {(r["source_file"], r["line_number"]): r["reasons"] for r in checked.collect()} == {
        ("payments_1.csv", 9): [],
        ("payments_2.csv", 2): ["key:duplicate_line"],
    }


def test_same_key_in_two_deliveries_is_not_a_duplicate(spark):
    contract = CONTRACTS["social_security"]
    line = f"P1,{A},202610,pension,100"
    df = spark.createDataFrame(
        [(date(2026, 10, 10), "f.csv", 1, 2, line), (date(2026, 11, 10), "f.csv", 1, 2, line.replace("100", "120"))],
        "extract_date date, source_file string, file_ordinal int, line_number long, raw_text string",
    )
    checked = flag_duplicates(check_rows(df, contract, list(range(5))))
    assert [r["reasons"] for r in checked.collect()] == [[], []]


def test_reordered_delivered_columns_are_mapped_by_header(spark):
    contract = CONTRACTS["social_security"]
    # Delivered as: amount, item, period, person_id, record_id
    df = spark.createDataFrame(
        [(date(2026, 11, 10), "f.csv", 1, 2, f"100.50,pension,202610,{A},P1")],
        "extract_date date, source_file string, file_ordinal int, line_number long, raw_text string",
    )
    row = flag_duplicates(check_rows(df, contract, [4, 3, 2, 1, 0])).collect()[0]
    assert (row["record_id"], row["period"], row["item"], str(row["amount"]), row["reasons"]) == (
        "P1",
        "2026-10",
        "pension",
        "100.50",
        [],
    )


# The second wave's sources. A valid unified social credit code (GB 32100-2015, printed on
# a business licence) and the same with its check character changed.
CREDIT = "91350100M000100Y43"
CREDIT_BAD_CHECK = "91350100M000100Y44"

DISABILITY_CASES = [
    (f"{A},4,2,2020-05-01", []),
    (f"{A},7,1,2026-12-31", []),
    (f"{A},8,2,2020-05-01", ["disability_type:not_in_codes"]),
    (f"{A},4,5,2020-05-01", ["grade:not_in_codes"]),
    (f"{A},4,0,2020-05-01", ["grade:not_in_codes"]),
    (f"{A},4,2,20200501", ["certificate_date:bad_date"]),
    (f"{A},4,2,", ["certificate_date:missing"]),
    (f"{BAD_CHECK},4,2,2020-05-01", ["person_id:bad_check_character"]),
    (f"{A},4,2,2027-02-01", ["rule:not_dated_after_delivery"]),  # after its delivery
]

HOLDING_CASES = [
    ("H1,grain_land,6.5,2026", []),
    ("H1,cattle,2,2025", []),
    ("H1,poultry,0,2026", []),
    ("H1,rice,6.5,2026", ["item:not_in_codes"]),
    ("H1,grain_land,-1,2026", ["quantity:below_minimum"]),
    ("H1,grain_land,6.555,2026", ["quantity:bad_number"]),  # two decimal places at most
    ("H1,grain_land,six,2026", ["quantity:bad_number"]),
    ("H1,grain_land,6.5,26", ["year:bad_pattern"]),
    ("H1,grain_land,6.5,二〇二六", ["year:bad_pattern"]),
    (",grain_land,6.5,2026", ["household_id:missing"]),
    ("H1,grain_land,6.5,2027", []),  # the year of its delivery
    ("H1,grain_land,6.5,2028", ["rule:not_registered_after_delivery"]),
]

VEHICLE_CASES = [
    (f"V1,{A},passenger_car,2019-03-01,active", []),
    (f"V1,{A},tricycle,2019-03-01,scrapped", []),
    (f"V1,{A},bus,2019-03-01,active", ["vehicle_class:not_in_codes"]),
    (f"V1,{A},truck,2019-03-01,stolen", ["status:not_in_codes"]),
    (f"V1,{A},truck,2019-02-30,active", ["registration_date:bad_date"]),
    (f"V1,{BAD_CHECK},truck,2019-03-01,active", ["person_id:bad_check_character"]),
    (f",{A},truck,2019-03-01,active", ["vehicle_id:missing"]),
    (f"V1,{A},truck,2027-03-01,active", ["rule:not_dated_after_delivery"]),  # after its delivery
]

BUSINESS_CASES = [
    (f"{CREDIT},{A},legal_rep,company,500000,active", []),
    (f"{CREDIT},{A},investor,individual,0,cancelled", []),
    (f"{CREDIT_BAD_CHECK},{A},legal_rep,company,500000,active", ["credit_code:bad_check_character"]),
    (f"{CREDIT[:-1]},{A},legal_rep,company,500000,active", ["credit_code:bad_format"]),
    (f"{CREDIT.lower()},{A},legal_rep,company,500000,active", ["credit_code:bad_format"]),
    (f"{CREDIT},{BAD_CHECK},legal_rep,company,500000,active", ["person_id:bad_check_character"]),
    (f"{CREDIT},{A},owner,company,500000,active", ["role:not_in_codes"]),
    (f"{CREDIT},{A},legal_rep,partnership,500000,active", ["enterprise_type:not_in_codes"]),
    (f"{CREDIT},{A},legal_rep,company,-5,active", ["registered_capital:below_minimum"]),
    (f"{CREDIT},{A},legal_rep,company,500000,closed", ["status:not_in_codes"]),
    (f",{A},legal_rep,company,500000,active", ["credit_code:missing"]),
]

SECOND_WAVE_CASES = {
    "disability": DISABILITY_CASES,
    "agriculture": HOLDING_CASES,
    "vehicles": VEHICLE_CASES,
    "businesses": BUSINESS_CASES,
}


@pytest.mark.parametrize(
    "source,index",
    [(source, i) for source, cases in SECOND_WAVE_CASES.items() for i in range(len(cases))],
    ids=[f"{source}-{c[0][:40]}" for source, cases in SECOND_WAVE_CASES.items() for c in cases],
)
def test_second_wave_row_reasons(spark, source, index):
    cases = SECOND_WAVE_CASES[source]
    assert case_reasons(spark, source, cases, index) == cases[index][1]


def test_the_same_credit_code_and_person_twice_with_different_content_is_a_conflict(spark):
    first = f"{CREDIT},{A},legal_rep,company,500000,active"
    second = f"{CREDIT},{A},legal_rep,company,600000,active"
    other_person = f"{CREDIT},{B},investor,company,500000,active"  # the key is (code, person)
    assert reasons_by_line(spark, "businesses", [first, second, other_person]) == {
        2: ["key:conflicting_duplicate"],
        3: ["key:conflicting_duplicate"],
        4: [],
    }
