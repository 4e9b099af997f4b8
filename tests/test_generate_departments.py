"""The second wave in the synthetic landing: the departments' files in their agreed
formats, bad rows exactly where the summary says, an economy that looks like a
prefecture-level city, and civil affairs' roll, relapse register and visits at the rates of
a Dezhou-like city with the exceptions a re-review must find. Row rules, incomes and
rates are written here independently (own MOD 31 for the credit code, own farm returns
and dibao standard), not taken from the generator."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from fnmatch import fnmatch
from pathlib import Path

import pytest

from pipelines.contracts import load_contract
from pipelines.contracts.files import schemas_dir
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


PROGRAMMES = ("dibao", "tekun", "marginal", "rigid_expenditure")  # the order that picks a household's programme
OUTCOMES = {"confirmed", "not_eligible", "not_found", "already_assisted"}


def roll_ok(f: list[str]) -> bool:
    return (
        len(f) == 7
        and len(f[0]) == 12
        and f[0].startswith("3714")
        and id_is_valid(f[1])
        and f[2] in PROGRAMMES
        and parse_date(f[3], "%Y-%m-%d") is not None  # after the extract date is valid
        and f[4] in {"credit", "investigated"}
        and money(f[5]) is not None
        and money(f[6]) is not None
    )


def monitoring_ok(f: list[str]) -> bool:
    day = parse_date(f[2], "%Y-%m-%d") if len(f) == 3 else None
    return (
        day is not None
        and len(f[0]) == 12
        and f[0].startswith("3714")
        and f[1] in {"lifted", "monitored", "risk_cleared"}
        and day <= DELIVERED
    )


def visit_ok(f: list[str], delivered: date) -> bool:
    day = parse_date(f[2], "%Y-%m-%d") if len(f) == 5 else None
    return (
        day is not None
        and f[0] != ""
        and len(f[1]) == 12
        and f[1].startswith("3714")
        and day <= delivered
        and f[3] in OUTCOMES
        and f[4] in {*PROGRAMMES, "none"}
        and (f[3] not in {"not_eligible", "not_found"} or f[4] == "none")
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
    "assistance_roll": (
        "2026-11-01",
        "roll.csv",
        "utf-8",
        "户号,公民身份号码,救助类别,审批日期,审批方式,申报月收入,月救助金",
        roll_ok,
        (1, 2),
    ),
    "relapse_monitoring": (
        "2026-11-01",
        "monitoring.csv",
        "utf-8",
        "household_id,status,since_date",
        monitoring_ok,
        (0,),
    ),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_landing(root, 4000, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def city(generated):
    root, summary = generated
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


# ---- civil affairs' own sources: the roll, the relapse register, the visits ------------

FIRST_VISIT_DAY = AS_OF - timedelta(days=120)
# yuan a year per mu or head (the Yuyang method's defaults) and the dibao standard, yuan a
# month per person, urban (residence type 1) and rural (2)
FARM_RETURN = {
    "grain_land": 500,
    "cash_crop_land": 1200,
    "orchard": 1500,
    "greenhouse": 6000,
    "cattle": 1500,
    "pig": 200,
    "sheep": 150,
    "poultry": 8,
}
STANDARD = {"1": 814.0, "2": 666.0}


@pytest.fixture(scope="module")
def households(city):
    """Each household with a registered member on D: its members, whether it is rural,
    and its monthly income (October's payments plus farm income) over the standard."""
    _, rows, residents, payments = city
    members: dict[str, list[str]] = defaultdict(list)
    rural = {}
    for f in residents:
        if resident_ok(f) and f[8] == "1":
            members[f[4]].append(f[0])
            rural[f[4]] = f[7] == "2"
    paid: Counter[str] = Counter()
    for f in payments:
        if len(f) == 5 and money(f[4]) is not None:
            paid[f[1]] += money(f[4])
    farm: Counter[str] = Counter()
    for f in rows["agriculture"][0]:
        if agriculture_ok(f):
            farm[f[0]] += money(f[2]) * FARM_RETURN[f[1]] / 12
    income = {hh: sum(paid[p] for p in m) + farm[hh] for hh, m in members.items()}
    ratio = {hh: income[hh] / len(m) / STANDARD["2" if rural[hh] else "1"] for hh, m in members.items()}
    return members, rural, income, ratio


def roll_households(rows) -> dict[str, list[list[str]]]:
    """The good rows of the roll by household: rule breakers, conflicting keys and the
    extra copies of duplicate lines left out."""
    parsed, raw = rows["assistance_roll"]
    lines_by_key = defaultdict(set)
    for f, line in zip(parsed, raw):
        if roll_ok(f):
            lines_by_key[(f[1], f[2])].add(line)
    by_household = defaultdict(list)
    for f, line in zip(parsed, raw):
        if roll_ok(f) and lines_by_key[(f[1], f[2])] == {line} and f not in by_household[f[0]]:
            by_household[f[0]].append(f)
    return by_household


def programme_of(roll_rows: list[list[str]]) -> str:
    return min((f[2] for f in roll_rows), key=PROGRAMMES.index)


def visit_deliveries(root: Path) -> list[tuple[date, list[list[str]], list[str]]]:
    deliveries = []
    for folder in folders(root, "visit_outcomes"):
        assert sorted(p.name for p in folder.iterdir()) == ["_READY", "visits.csv"]
        header, parsed, raw = read_rows(folder / "visits.csv", "utf-8")
        assert header == "visit_id,household_id,visit_date,outcome,decided_programme"
        deliveries.append((date.fromisoformat(folder.name), parsed, raw))
    return deliveries


def test_civil_affairs_files_are_read_by_their_contracts(generated):
    """Files named, encoded and headed as the contracts say; every good row's codes among
    the contract's codes."""
    root, _ = generated
    for source, row_ok in (
        ("assistance_roll", roll_ok),
        ("relapse_monitoring", monitoring_ok),
        ("visit_outcomes", visit_ok),
    ):
        contract = load_contract(schemas_dir() / "sources" / f"{source}.yaml")
        good = []
        for folder in folders(root, source):
            (data_file,) = (p for p in folder.iterdir() if p.name != "_READY")
            assert fnmatch(data_file.name, contract.delivery.files)
            assert not data_file.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
            header, parsed, _ = read_rows(data_file, contract.delivery.encoding)
            assert header.split(",") == [c.header for c in contract.columns]
            day = date.fromisoformat(folder.name)
            good += [f for f in parsed if (row_ok(f, day) if source == "visit_outcomes" else row_ok(f))]
        assert good
        for i, column in enumerate(contract.columns):
            if column.codes:
                assert {f[i] for f in good} <= column.codes.keys(), (source, column.name)


def test_the_roll_covers_about_one_household_in_twenty_mostly_poor_and_rural(city, households):
    _, rows, residents, payments = city
    members, rural, _, ratio = households
    roll = roll_households(rows)
    on_roll = roll.keys() & members.keys()
    assert 0.04 < len(on_roll) / len(members) < 0.06
    rural_share = sum(rural[hh] for hh in on_roll) / sum(rural.values())
    urban_share = sum(not rural[hh] for hh in on_roll) / (len(members) - sum(rural.values()))
    assert rural_share > 2 * urban_share
    programmes = Counter(programme_of(roll[hh]) for hh in roll)
    # mostly among the poorest: dibao and tekun households below the standard, marginal
    # ones mostly below one and a half times it, where few of the city's households are
    below = [hh for hh in on_roll if programme_of(roll[hh]) in {"dibao", "tekun"}]
    assert sum(ratio[hh] < 1 for hh in below) > 0.8 * len(below)
    marginal = [hh for hh in on_roll if programme_of(roll[hh]) == "marginal"]
    assert sum(ratio[hh] < 1.5 for hh in marginal) > 0.6 * len(marginal)
    assert sum(ratio[hh] < 1 for hh in members) < 0.3 * len(members)

    assert 0.5 < programmes["dibao"] / len(roll) < 0.7
    assert 0.05 < programmes["tekun"] / len(roll) < 0.15
    assert 0.12 < programmes["marginal"] / len(roll) < 0.28
    assert 0.05 < programmes["rigid_expenditure"] / len(roll) < 0.15
    # a few households are on two programmes
    assert 0 < sum(len({f[2] for f in r}) > 1 for r in roll.values()) < 0.05 * len(roll)

    # tekun: every member under 16, 60 or over, or severely disabled, and no wage
    birth = {f[0]: f[3] for f in residents if resident_ok(f)}
    severe = {f[0] for f in rows["disability"][0] if disability_ok(f) and f[2] in {"1", "2"}}
    wage = {f[1] for f in payments if len(f) == 5 and f[3] == "wage_contribution"}

    def dependent(person: str) -> bool:
        born = date(int(birth[person][:4]), int(birth[person][4:6]), int(birth[person][6:8]))
        age = DELIVERED.year - born.year - ((DELIVERED.month, DELIVERED.day) < (born.month, born.day))
        return age < 16 or age >= 60 or person in severe

    tekun = [hh for hh in on_roll if programme_of(roll[hh]) == "tekun"]
    assert tekun
    fits = [all(dependent(p) and p not in wage for p in members[hh]) for hh in tekun]
    assert sum(fits) >= 0.9 * len(tekun)


def test_roll_households_share_approval_and_declared_income(city, households):
    _, rows, _, _ = city
    members, _, income, _ = households
    roll = roll_households(rows)
    for hh_rows in roll.values():
        assert len({f[4] for f in hh_rows}) == 1
        assert len({f[5] for f in hh_rows}) == 1
    credit = {hh for hh, r in roll.items() if r[0][4] == "credit"}
    assert 0.4 < len(credit) / len(roll) < 0.6

    approved = [date.fromisoformat(f[3]) for r in roll.values() for f in r]
    later = sum(day > DELIVERED for day in approved)
    assert 1 <= later < 0.02 * len(approved)
    assert min(approved) > DELIVERED - timedelta(days=5 * 366)
    assert max(approved) < DELIVERED + timedelta(days=60)

    # declared: at or a bit below the real income, for about one credit household in ten
    # far below it (the rule of EXIT_REVIEW: by more than 20% of the declared and 100 yuan)
    def understated(hh: str) -> bool:
        declared = money(roll[hh][0][5])
        return income[hh] - declared > max(0.2 * declared, 100)

    scored = roll.keys() & members.keys()
    assert 0.05 < sum(understated(hh) for hh in credit & scored) / len(credit & scored) < 0.2
    investigated = scored - credit
    assert sum(understated(hh) for hh in investigated) < 0.08 * len(investigated)

    # a benefit per person: the gap to the standard for dibao, more for tekun, less otherwise
    benefit: dict[str, list[float]] = defaultdict(list)
    for r in roll.values():
        for f in r:
            benefit[f[2]].append(money(f[6]))
    assert max(benefit["dibao"]) <= STANDARD["1"]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    assert mean(benefit["tekun"]) > mean(benefit["dibao"]) > mean(benefit["marginal"])
    assert mean(benefit["dibao"]) > mean(benefit["rigid_expenditure"])


def test_the_roll_lists_the_planted_exceptions_and_no_others(generated, city):
    _, summary = generated
    _, rows, residents, _ = city
    found_at = {f[0]: (f[4], f[8]) for f in residents if resident_ok(f)}

    # a person whose registry row was replaced by a bad row is absent to a reader (a bad
    # ID keeps digits 3-10 and 15-17: only its province, birth day or check is wrong)
    def altered(pid: str) -> str:
        return pid[2:10] + pid[14:17]

    quarantined = {altered(f[0]) for f in residents if f and not resident_ok(f)}
    registered_households = {household for household, status in found_at.values() if status == "1"}
    roll = roll_households(rows)
    nobody_left = roll.keys() - registered_households
    found: Counter[str] = Counter()
    for hh, hh_rows in roll.items():
        for f in hh_rows:
            household, status = found_at.get(f[1], ("", "absent"))
            if hh in nobody_left:
                assert status in {"2", "3"}
            elif status == "2":
                found["deceased_recipients"] += 1
            elif status == "3":
                found["moved_out_recipients"] += 1
            elif status == "absent":
                assert altered(f[1]) in quarantined
            elif household != hh:
                found["recipients_in_another_household"] += 1
    found["households_with_nobody_left"] = len(nobody_left)
    planted = summary["assistance_roll"]
    for kind in ("deceased_recipients", "moved_out_recipients", "recipients_in_another_household"):
        # a planted row may have been replaced by a bad row, nothing else may show up
        assert 1 <= found[kind] <= planted[kind], kind
    assert 1 <= found["households_with_nobody_left"] <= planted["households_with_nobody_left"]
    assert planted["households_with_nobody_left"] < 0.02 * planted["households"]
    # (a household of one row may have lost it to a bad row)
    assert len(roll) <= planted["households"] <= len(roll) + sum(summary["bad_rows"]["assistance_roll"].values())


def test_relapse_monitoring_lists_rural_households_at_their_rates(city, households):
    _, rows, _, _ = city
    members, rural, _, _ = households
    status = {f[0]: f[1] for f in rows["relapse_monitoring"][0] if monitoring_ok(f)}
    assert status.keys() <= {hh for hh in members if rural[hh]}
    counts = Counter(status.values())
    rural_households = sum(rural.values())
    assert 0.02 < counts["lifted"] / rural_households < 0.04
    assert 0.002 < counts["monitored"] / rural_households < 0.01
    assert 0.002 < counts["risk_cleared"] / rural_households < 0.01


def test_visits_are_delivered_daily_with_exactly_the_injected_bad_rows(generated):
    root, summary = generated
    deliveries = visit_deliveries(root)
    assert len(deliveries) > 10
    assert all(FIRST_VISIT_DAY < day <= AS_OF + timedelta(days=1) for day, _, _ in deliveries)
    # the case system's daily export: a file every day of the last week, empty or not
    export_days = {AS_OF + timedelta(days=k) for k in range(-6, 2)}
    assert export_days <= {day for day, _, _ in deliveries}
    bad = late = 0
    first_seen: dict[str, list[str]] = {}
    delivered_in: dict[str, set[date]] = defaultdict(set)
    for day, parsed, raw in deliveries:
        for f in parsed:
            delivered_in[f[0]].add(day)
        assert len(parsed) == summary["rows"]["visit_outcomes"][day.isoformat()]
        assert parsed or day in export_days  # before the last week, only days with visits
        good = [visit_ok(f, day) for f in parsed]
        lines_by_key = defaultdict(set)
        for f, line, ok in zip(parsed, raw, good):
            if ok:
                lines_by_key[f[0]].add(line)
        seen = set()
        for i, (f, line) in enumerate(zip(parsed, raw)):
            if good[i] and (len(lines_by_key[f[0]]) > 1 or line in seen):
                good[i] = False
            seen.add(line)
        bad += good.count(False)
        for f, ok in zip(parsed, good):
            if not ok:
                continue
            visited = date.fromisoformat(f[2])
            assert FIRST_VISIT_DAY <= visited < day
            assert day <= visited + timedelta(days=10)
            if f[0] in first_seen:
                assert f[3] != first_seen[f[0]][3]  # a revisit changed the outcome
            else:
                late += day > visited + timedelta(days=3)
                first_seen[f[0]] = f
    assert set(summary["bad_rows"]["visit_outcomes"]) == set(KINDS["visit_outcomes"])
    assert bad == sum(summary["bad_rows"]["visit_outcomes"].values())
    # delivered the next day or a day or two later; a re-delivered visit a few days after
    redelivered = sum(len(days) > 1 for days in delivered_in.values())
    assert redelivered == summary["redelivered"]["visit_outcomes"] >= 1
    assert late <= redelivered


def test_visits_follow_low_income_households_with_the_agreed_outcomes(generated, city, households):
    root, _ = generated
    _, rows, _, _ = city
    members, _, _, ratio = households
    roll = roll_households(rows)
    first: dict[str, list[str]] = {}
    for day, parsed, _ in visit_deliveries(root):
        for f in parsed:
            if visit_ok(f, day):
                first.setdefault(f[0], f)
    visits = list(first.values())
    assert 0.007 < len(visits) / len(members) < 0.013
    visited = [f[1] for f in visits if f[1] in members]
    assert sum(ratio[hh] < 2 for hh in visited) > 0.7 * len(visited)
    outcomes = Counter(f[3] for f in visits)
    assert 0.45 < outcomes["confirmed"] / len(visits) < 0.65
    assert 0.15 < outcomes["not_eligible"] / len(visits) < 0.35
    assert 0.04 < outcomes["not_found"] / len(visits) < 0.16
    assert 0.04 < outcomes["already_assisted"] / len(visits) < 0.16
    for f in visits:
        if f[3] == "confirmed":
            assert f[4] in PROGRAMMES
        elif f[3] == "already_assisted":
            assert f[4] == (programme_of(roll[f[1]]) if f[1] in roll else "none")


def test_civil_affairs_sources_are_the_same_for_a_seed_and_differ_for_another(tmp_path):
    def files(root: Path) -> dict[Path, bytes]:
        sources = ("assistance_roll", "relapse_monitoring", "visit_outcomes")
        return {
            p.relative_to(root): p.read_bytes() for s in sources for p in sorted((root / s).rglob("*")) if p.is_file()
        }

    first, again, other = (tmp_path / "a", tmp_path / "b", tmp_path / "c")
    summaries = [generate_landing(root, 1500, seed=seed, as_of=AS_OF) for root, seed in ((first, 5), (again, 5))]
    generate_landing(other, 1500, seed=6, as_of=AS_OF)
    assert summaries[0] == summaries[1]
    assert files(first) == files(again)
    assert files(first) != files(other)
    assert files(first)[Path("assistance_roll/2026-11-01/roll.csv")].startswith("户号,公民身份号码".encode())
