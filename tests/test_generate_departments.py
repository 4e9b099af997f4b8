"""The second wave in the synthetic landing: the five departments' files in their agreed
formats, bad rows exactly where the summary says, and an economy that looks like a
prefecture-level city. Row rules are written here independently (own MOD 31 for the
credit code), not taken from the generator."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from pipelines.generate import generate_landing
from pipelines.generate.defects import KINDS
from tests.test_generate import folders, id_is_valid, money, parse_date, read_rows, resident_ok

AS_OF = date(2026, 11, 28)
DELIVERED = date(2026, 11, 1)
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [3**i % 31 for i in range(17)]  # 1, 3, 9, 27, 19, 26, 16, 17, 20, ...


def credit_code_ok(code: str) -> bool:
    if len(code) != 18 or any(c not in CREDIT_ALPHABET for c in code) or not code[2:8].isdigit():
        return False
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(code[:17], CREDIT_WEIGHTS))
    return code[17] == CREDIT_ALPHABET[(31 - total % 31) % 31]


def agriculture_ok(f: list[str]) -> bool:
    items = {"grain_land", "cash_crop_land", "orchard", "greenhouse", "cattle", "pig", "sheep", "poultry"}
    return (
        len(f) == 4
        and len(f[0]) == 12
        and f[0].startswith("3714")
        and f[1] in items
        and money(f[2]) is not None
        and f[3].isdigit()
        and int(f[3]) <= 2026
    )


def disability_ok(f: list[str]) -> bool:
    day = parse_date(f[3], "%Y-%m-%d") if len(f) == 4 else None
    return day is not None and id_is_valid(f[0]) and f[1] in set("1234567") and f[2] in set("1234") and day <= DELIVERED


def vehicles_ok(f: list[str]) -> bool:
    day = parse_date(f[3], "%Y-%m-%d") if len(f) == 5 else None
    classes = {"passenger_car", "truck", "motorcycle", "tricycle", "agricultural"}
    return (
        day is not None
        and f[0] != ""
        and id_is_valid(f[1])
        and f[2] in classes
        and day <= DELIVERED
        and f[4] in {"active", "scrapped"}
    )


def businesses_ok(f: list[str]) -> bool:
    return (
        len(f) == 6
        and credit_code_ok(f[0])
        and id_is_valid(f[1])
        and f[2] in {"legal_rep", "investor"}
        and f[3] in {"individual", "company"}
        and money(f[4]) is not None
        and f[5] in {"active", "revoked", "cancelled"}
    )


def property_ok(f: list[str]) -> bool:
    return (
        len(f) == 5
        and f[0] != ""
        and id_is_valid(f[1])
        and f[2] in {"residential", "commercial"}
        and money(f[3]) is not None
        and f[4] in {"registered", "cancelled"}
    )


# source: (folder date, file, encoding, header, row rule, key columns)
SOURCES = {
    "agriculture": ("2026-03-01", "holdings.csv", "gb18030", "户号,项目,数量,登记年度", agriculture_ok, (0, 1)),
    "disability": (
        "2026-11-01",
        "disability.csv",
        "utf-8",
        "person_id,disability_type,grade,certificate_date",
        disability_ok,
        (0,),
    ),
    "vehicles": (
        "2026-11-01",
        "vehicles.csv",
        "utf-8",
        "vehicle_id,person_id,vehicle_class,registration_date,status",
        vehicles_ok,
        (0,),
    ),
    "businesses": (
        "2026-11-01",
        "businesses.csv",
        "utf-8",
        "credit_code,person_id,role,enterprise_type,registered_capital,status",
        businesses_ok,
        (0, 1),
    ),
    "property": (
        "2026-11-01",
        "property.csv",
        "utf-8",
        "property_id,person_id,property_type,floor_area,status",
        property_ok,
        (0, 1),
    ),
}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    summary = generate_landing(root, 4000, seed=11, as_of=AS_OF)
    rows = {}
    for source, (day, file_name, encoding, header, _, _) in SOURCES.items():
        assert [p.name for p in folders(root, source)] == [day], source
        assert sorted(p.name for p in (root / source / day).iterdir()) == ["_READY", file_name]
        found_header, parsed, raw = read_rows(root / source / day / file_name, encoding)
        assert found_header == header, source
        rows[source] = (parsed, raw)
    _, residents, _ = read_rows(root / "residents/2026-11-28/residents.csv", "gb18030")
    _, payments, _ = read_rows(root / "social_security/2026-11-10/payments.csv", "utf-8-sig")
    return summary, rows, residents, payments


def test_each_department_has_exactly_the_injected_bad_rows(city):
    summary, rows, _, _ = city
    for source, (_, _, _, _, row_ok, key) in SOURCES.items():
        parsed, raw = rows[source]
        assert set(summary["bad_rows"][source]) == set(KINDS[source]), source
        bad = [not row_ok(f) for f in parsed]
        lines_by_key = defaultdict(set)
        for f, line, is_bad in zip(parsed, raw, bad):
            if not is_bad:
                lines_by_key[tuple(f[k] for k in key)].add(line)
        seen = set()
        for i, (f, line) in enumerate(zip(parsed, raw)):
            if not bad[i] and (len(lines_by_key[tuple(f[k] for k in key)]) > 1 or line in seen):
                bad[i] = True
            seen.add(line)
        assert sum(bad) == sum(summary["bad_rows"][source].values()), source
        assert len(parsed) == summary["rows"][source][SOURCES[source][0]]


def test_the_economy_looks_like_a_prefecture_level_city(city):
    _, rows, residents, payments = city
    people = {f[0]: f for f in residents if resident_ok(f) and f[8] == "1"}
    age = {p: 2026 - int(f[3][:4]) for p, f in people.items()}
    rural = {p for p, f in people.items() if f[7] == "2"}
    urban_households = {f[4] for f in people.values() if f[7] == "1"}
    rural_households = {f[4] for f in people.values() if f[7] == "2"}
    household_of = {p: f[4] for p, f in people.items()}

    # Most rural working-age people have no wage record in a month; most rural elders draw
    # only the residents' basic pension (a few hundred yuan).
    wage = {f[1] for f in payments if len(f) == 5 and f[3] == "wage_contribution"}
    rural_working = [p for p in rural if 20 <= age[p] < 60]
    assert sum(p in wage for p in rural_working) < 0.5 * len(rural_working)
    urban_working = [p for p in people if p not in rural and 25 <= age[p] < 50]
    assert sum(p in wage for p in urban_working) > 0.7 * len(urban_working)
    pension = {f[1]: money(f[4]) for f in payments if len(f) == 5 and f[3] == "pension" and money(f[4])}
    rural_elders = [pension[p] for p in rural if age[p] >= 62 and p in pension]
    assert sum(a < 500 for a in rural_elders) > 0.7 * len(rural_elders)

    # About 2% of people hold a disability certificate, more of the old than of the young.
    holders = {f[0] for f in rows["disability"][0] if disability_ok(f)} & set(people)
    assert 0.012 < len(holders) / len(people) < 0.035
    old = [p for p in people if age[p] >= 65]
    young = [p for p in people if age[p] < 40]
    assert sum(p in holders for p in old) / len(old) > 2 * sum(p in holders for p in young) / len(young)

    # Land follows the rural households; cars and businesses the urban ones.
    holding = {f[0] for f in rows["agriculture"][0] if agriculture_ok(f)}
    assert len(holding & rural_households) > 0.8 * len(rural_households)
    assert len(holding & urban_households) < 0.1 * len(urban_households)

    def share(households: set[str], source: str, column: int, which) -> float:
        owners = {household_of.get(f[column]) for f in rows[source][0] if which(f)}
        return len(owners & households) / len(households)

    def car(f):
        return vehicles_ok(f) and f[2] == "passenger_car" and f[4] == "active"

    def business(f):
        return businesses_ok(f) and f[5] == "active"

    assert share(urban_households, "vehicles", 1, car) > 1.5 * share(rural_households, "vehicles", 1, car)
    assert share(urban_households, "businesses", 1, business) > share(rural_households, "businesses", 1, business)
    # Counties farm differently: Leling (371481) is jujube country, its orchards several
    # times as common among rural households as elsewhere.
    county_of = {f[4]: f[6][:6] for f in people.values()}
    orchard = {f[0] for f in rows["agriculture"][0] if agriculture_ok(f) and f[1] == "orchard"}
    leling = {hh for hh in rural_households if county_of[hh] == "371481"}
    others = rural_households - leling
    assert len(orchard & leling) / len(leling) > 2 * len(orchard & others) / len(others)


def test_jointly_owned_homes_name_two_members_of_one_household(city):
    _, rows, residents, _ = city
    household_of = {f[0]: f[4] for f in residents if resident_ok(f)}
    owners = defaultdict(set)
    for f in rows["property"][0]:
        if property_ok(f):
            owners[f[0]].add(f[1])
    joint = [o for o in owners.values() if len(o) == 2 and o <= household_of.keys()]
    assert joint
    assert all(len({household_of.get(p) for p in o}) == 1 for o in joint)
