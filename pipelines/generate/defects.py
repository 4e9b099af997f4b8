"""Bad rows for the synthetic deliveries: each kind is one way a department extract
breaks a rule of interfaces.md, so ingestion and quarantine can be exercised.

Only the chosen rows (about 0.2%) pass through Python; the rest of a delivery stays
an Arrow array of encoded lines. A bad row never breaks the CSV itself: a value with
a comma is double-quoted, and no value holds a quote or a line break.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from .population import id_check_char

Fields = list[str]
Corruption = Callable[[Fields, np.random.Generator], list[Fields]]

NON_NUMERIC = '"12,5a"'  # quoted: the comma is inside the value


def _with(fields: Fields, **changes) -> Fields:
    out = list(fields)
    for index, value in changes.items():
        out[int(index[1:])] = value
    return out


def _wrong_check(pid: str, rng) -> str:
    right = id_check_char(pid[:17])
    return pid[:17] + rng.choice([c for c in "0123456789X" if c != right])


def _reissue(first17: str) -> str:
    return first17 + id_check_char(first17)


def _shift_yyyymmdd(text: str, days: int) -> str:
    return (date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)).strftime("%Y%m%d")


# residents: 0 person_id, 1 name, 2 gender, 3 birth_date, 4 household_id, 5 relation,
# 6 region_code, 7 residence_type, 8 status, 9 status_date
def _impossible_birth(f: Fields, rng) -> list[Fields]:
    birth = f[0][6:10] + "0230"
    return [_with(f, f0=_reissue(f[0][:6] + birth + f[0][14:17]), f3=birth)]


def _renamed(f: Fields) -> Fields:
    return _with(f, f1=f[1][0] + ("建国" if f[1][1:] != "建国" else "卫东"))


RESIDENTS: dict[str, Corruption] = {
    "field_count_missing": lambda f, rng: [f[:-1]],
    "field_count_extra": lambda f, rng: [[*f, "1"]],
    "id_check_char": lambda f, rng: [_with(f, f0=_wrong_check(f[0], rng))],
    "id_impossible_birth_date": _impossible_birth,
    "id_not_a_province": lambda f, rng: [_with(f, f0=_reissue("99" + f[0][2:17]))],
    "birth_date_disagrees_with_id": lambda f, rng: [_with(f, f3=_shift_yyyymmdd(f[3], int(rng.integers(1, 400))))],
    "gender_disagrees_with_id": lambda f, rng: [_with(f, f2="2" if f[2] == "1" else "1")],
    "gender_code_3": lambda f, rng: [_with(f, f2="3")],
    "relation_code_07": lambda f, rng: [_with(f, f5="07")],
    "region_code_11_digits": lambda f, rng: [_with(f, f6=f[6][:11])],
    "residence_type_3": lambda f, rng: [_with(f, f7="3")],
    "status_4": lambda f, rng: [_with(f, f8="4", f9="")],
    "status_date_unparseable": lambda f, rng: [_with(f, f8="2", f9=str(rng.choice(["20261301", "2026-13-01"])))],
    "status_1_with_date": lambda f, rng: [_with(f, f8="1", f9="20260315")],
    "status_2_without_date": lambda f, rng: [_with(f, f8="2", f9="")],
    "household_id_empty": lambda f, rng: [_with(f, f4="")],
    "duplicate_key_conflict": lambda f, rng: [f, _renamed(f)],
    "exact_duplicate": lambda f, rng: [f, f],
}


# medical_settlements: 0 settlement_id, 1 person_id, 2 visit_type, 3 admission_date,
# 4 discharge_date, 5 diagnosis_code, 6 total_cost, 7 fund_paid, 8 out_of_pocket, 9 settlement_date
def _cents(text: str) -> int:
    return round(float(text) * 100)


def _yuan(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _recosted(f: Fields, delta: int) -> Fields:
    total = _cents(f[6]) + delta
    return _with(f, f6=_yuan(total), f8=_yuan(total - _cents(f[7])))


SETTLEMENTS: dict[str, Corruption] = {
    "field_count_missing": lambda f, rng: [f[:5] + f[6:]],
    "field_count_extra": lambda f, rng: [[*f, ""]],
    "person_id_check_char": lambda f, rng: [_with(f, f1=_wrong_check(f[1], rng))],
    "visit_type_emergency": lambda f, rng: [_with(f, f2="emergency")],
    "date_unparseable": lambda f, rng: [_with(f, f9=f[9].replace("-", "/"))],
    "date_impossible": lambda f, rng: [_with(f, f9=f[9][:4] + "-02-30")],
    "amount_non_numeric": lambda f, rng: [_with(f, f7=NON_NUMERIC)],
    "total_cost_negative": lambda f, rng: [_with(f, f6="-" + f[6], f7="0.00", f8="-" + f[6])],
    "amount_three_decimals": lambda f, rng: [_with(f, f6=f[6] + "4")],
    "out_of_pocket_mismatch": lambda f, rng: [_with(f, f8=_yuan(_cents(f[8]) + 500))],
    "settlement_id_empty": lambda f, rng: [_with(f, f0="")],
    "duplicate_key_conflict": lambda f, rng: [f, _recosted(f, 1_000)],
    "exact_duplicate": lambda f, rng: [f, f],
}


# social_security: 0 record_id, 1 person_id, 2 period, 3 item, 4 amount
PAYMENTS: dict[str, Corruption] = {
    "field_count_missing": lambda f, rng: [f[:3] + f[4:]],
    "field_count_extra": lambda f, rng: [[*f, ""]],
    "person_id_check_char": lambda f, rng: [_with(f, f1=_wrong_check(f[1], rng))],
    "period_month_13": lambda f, rng: [_with(f, f2=f[2][:4] + "13")],
    "period_with_dash": lambda f, rng: [_with(f, f2=f[2][:4] + "-" + f[2][4:])],
    "item_bonus": lambda f, rng: [_with(f, f3="bonus")],
    "amount_negative": lambda f, rng: [_with(f, f4="-" + f[4])],
    "amount_non_numeric": lambda f, rng: [_with(f, f4=NON_NUMERIC)],
    "record_id_empty": lambda f, rng: [_with(f, f0="")],
    "duplicate_key_conflict": lambda f, rng: [f, _with(f, f4=_yuan(_cents(f[4]) + 10_000))],
    "exact_duplicate": lambda f, rng: [f, f],
}

# The second wave's snapshots: a few ways each breaks its contract.
# agriculture: 0 household_id, 1 item, 2 quantity, 3 year
AGRICULTURE: dict[str, Corruption] = {
    "item_unknown": lambda f, rng: [_with(f, f1="corn")],
    "quantity_negative": lambda f, rng: [_with(f, f2="-" + f[2])],
    "year_after_delivery": lambda f, rng: [_with(f, f3="2099")],
    "exact_duplicate": lambda f, rng: [f, f],
}
# disability: 0 person_id, 1 disability_type, 2 grade, 3 certificate_date
DISABILITY: dict[str, Corruption] = {
    "person_id_check_char": lambda f, rng: [_with(f, f0=_wrong_check(f[0], rng))],
    "grade_5": lambda f, rng: [_with(f, f2="5")],
    "date_unparseable": lambda f, rng: [_with(f, f3=f[3].replace("-", "/"))],
}
# vehicles: 0 vehicle_id, 1 person_id, 2 vehicle_class, 3 registration_date, 4 status
VEHICLES: dict[str, Corruption] = {
    "person_id_check_char": lambda f, rng: [_with(f, f1=_wrong_check(f[1], rng))],
    "vehicle_class_bus": lambda f, rng: [_with(f, f2="bus")],
    "registered_after_delivery": lambda f, rng: [_with(f, f3="2099-01-01")],
}
# businesses: 0 credit_code, 1 person_id, 2 role, 3 enterprise_type, 4 registered_capital, 5 status
BUSINESSES: dict[str, Corruption] = {
    "credit_code_check_char": lambda f, rng: [_with(f, f0=f[0][:17] + ("0" if f[0][17] != "0" else "1"))],
    "role_supervisor": lambda f, rng: [_with(f, f2="supervisor")],
    "capital_negative": lambda f, rng: [_with(f, f4="-" + f[4])],
}
# property: 0 property_id, 1 person_id, 2 property_type, 3 floor_area, 4 status
PROPERTY: dict[str, Corruption] = {
    "person_id_check_char": lambda f, rng: [_with(f, f1=_wrong_check(f[1], rng))],
    "property_type_industrial": lambda f, rng: [_with(f, f2="industrial")],
    "floor_area_negative": lambda f, rng: [_with(f, f3="-" + f[3])],
}


# The civil-affairs sources: the roll, the relapse register and the visits.
def _negative(text: str) -> str:
    """A negative amount, also where the amount was 0 (a "-0.00" would still be valid)."""
    return "-" + (text if _cents(text) > 0 else "1.00")


def _shift_iso(text: str, days: int) -> str:
    return (date.fromisoformat(text) + timedelta(days=days)).isoformat()


# assistance_roll: 0 household_id, 1 person_id, 2 programme, 3 approval_date, 4 approval_mode,
# 5 declared_income, 6 monthly_benefit
ROLL: dict[str, Corruption] = {
    "person_id_check_char": lambda f, rng: [_with(f, f1=_wrong_check(f[1], rng))],
    "programme_temporary": lambda f, rng: [_with(f, f2="temporary")],  # 临时救助 is not on the roll
    "approval_date_unparseable": lambda f, rng: [_with(f, f3=f[3].replace("-", "/"))],
    "benefit_negative": lambda f, rng: [_with(f, f6=_negative(f[6]))],
    "exact_duplicate": lambda f, rng: [f, f],
    "duplicate_key_conflict": lambda f, rng: [f, _with(f, f6=_yuan(_cents(f[6]) + 1_000))],
}
# relapse_monitoring: 0 household_id, 1 status, 2 since_date
RELAPSE: dict[str, Corruption] = {
    "status_relapsed": lambda f, rng: [_with(f, f1="relapsed")],
    "since_after_delivery": lambda f, rng: [_with(f, f2="2099-01-01")],
    "household_id_empty": lambda f, rng: [_with(f, f0="")],
    "exact_duplicate": lambda f, rng: [f, f],
    "duplicate_key_conflict": lambda f, rng: [f, _with(f, f1="monitored" if f[1] != "monitored" else "lifted")],
}
# visit_outcomes: 0 visit_id, 1 household_id, 2 visit_date, 3 outcome, 4 decided_programme
VISITS: dict[str, Corruption] = {
    "outcome_postponed": lambda f, rng: [_with(f, f3="postponed")],
    "visit_after_delivery": lambda f, rng: [_with(f, f2=_shift_iso(f[2], 365))],
    "not_eligible_with_programme": lambda f, rng: [_with(f, f3="not_eligible", f4="dibao")],
    "date_unparseable": lambda f, rng: [_with(f, f2=f[2].replace("-", ""))],
    "exact_duplicate": lambda f, rng: [f, f],
    # the same visit twice in one delivery, the second with another (valid) outcome
    "duplicate_key_conflict": lambda f, rng: [
        f,
        _with(f, f3="already_assisted" if f[3] == "confirmed" else "confirmed"),
    ],
}

CORRUPTIONS = {
    "residents": RESIDENTS,
    "medical_settlements": SETTLEMENTS,
    "social_security": PAYMENTS,
    "agriculture": AGRICULTURE,
    "disability": DISABILITY,
    "vehicles": VEHICLES,
    "businesses": BUSINESSES,
    "property": PROPERTY,
    "assistance_roll": ROLL,
    "relapse_monitoring": RELAPSE,
    "visit_outcomes": VISITS,
}
KINDS = {source: tuple(kinds) for source, kinds in CORRUPTIONS.items()}


def bad_row_count(kind: str) -> int:
    """Rows a reader must quarantine for one injection: both rows of a key conflict,
    the extra copy of an exact duplicate, otherwise the row itself."""
    return 2 if kind == "duplicate_key_conflict" else 1


def inject_defects(
    source: str, lines: pa.Array, encoding: str, rng: np.random.Generator, *, rate: float, required: Sequence[str] = ()
) -> tuple[pa.Array, Counter]:
    """Replace about `rate` of the lines (and at least one per `required` kind) by bad rows.

    Returns the new lines and the number of bad rows per kind."""
    corruptions = CORRUPTIONS[source]
    kinds = list(required) + list(rng.choice(list(corruptions), size=rng.binomial(len(lines), rate)))
    kinds = kinds[: len(lines)]
    if not kinds:
        return lines, Counter()
    rows = np.sort(rng.choice(len(lines), size=len(kinds), replace=False))
    counts: Counter = Counter()
    replacements = []
    for kind, raw in zip(kinds, lines.take(pa.array(rows)).to_pylist()):
        bad = corruptions[kind](raw.decode(encoding).split(","), rng)
        replacements.append([",".join(f).encode(encoding) for f in bad])
        counts[kind] += bad_row_count(kind)
    return _splice(lines, rows, replacements), counts


def _splice(lines: pa.Array, rows: np.ndarray, replacements: list[list[bytes]]) -> pa.Array:
    """Put each row's replacement lines where the row was."""
    n = len(lines)
    per_row = np.ones(n, np.int64)
    per_row[rows] = [len(r) for r in replacements]
    order = np.repeat(np.arange(n), per_row)
    first = np.cumsum(per_row) - per_row
    slots = np.concatenate([first[row] + np.arange(len(r)) for row, r in zip(rows, replacements)])
    order[slots] = n + np.arange(len(slots))
    extra = pa.array([line for r in replacements for line in r], pa.binary())
    return pa.concat_arrays([lines.cast(pa.binary()), extra]).take(pa.array(order))
