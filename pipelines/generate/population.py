"""The synthetic city behind `lipmon generate`: households, residents and their
incomes and medical settlements, modelled on Dezhou, Shandong, as numpy arrays.

Everything here is numbers (codes, day numbers, cents); `deliveries.py` turns them
into department files. Dates are day numbers since 1970-01-01, amounts are cents.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)
NO_DATE = -1_000_000  # an empty date field (day numbers before 1970 are negative)

# county code, name, population (10k), urban share, streets (街道), towns (镇/乡)
COUNTIES = (
    (371402, "德城区", 73, 0.85, 9, 3),
    (371403, "陵城区", 55, 0.35, 2, 11),
    (371422, "宁津县", 44, 0.38, 2, 11),
    (371423, "庆云县", 30, 0.40, 2, 7),
    (371424, "临邑县", 50, 0.38, 2, 11),
    (371425, "齐河县", 60, 0.42, 3, 12),
    (371426, "平原县", 43, 0.38, 2, 11),
    (371427, "夏津县", 50, 0.36, 2, 12),
    (371428, "武城县", 36, 0.38, 2, 8),
    (371481, "乐陵市", 62, 0.40, 3, 13),
    (371482, "禹城市", 51, 0.42, 3, 10),
)
# ID region codes issued under the pre-1994 德州地区 (abolished, still valid in IDs)
OLD_ID_REGION = {
    371402: 372401,
    371403: 372421,
    371426: 372422,
    371427: 372423,
    371428: 372424,
    371425: 372425,
    371482: 372426,
    371481: 372427,
    371424: 372428,
    371423: 372430,
    371422: 372431,
}
# spouses who married in from elsewhere (Hebei, Jinan, Liaocheng, Binzhou, Henan)
MIGRANT_ID_REGION = np.array([130902, 130921, 131102, 370102, 370181, 371502, 371521, 372301, 410102, 371602])

HOUSEHOLD_SIZE_P = {
    True: [0.20, 0.30, 0.25, 0.14, 0.07, 0.03, 0.01],  # urban, mean ~2.7
    False: [0.13, 0.27, 0.20, 0.19, 0.12, 0.06, 0.03],
}  # rural, mean ~3.2
HEAD, SPOUSE, CHILD, PARENT, GRANDCHILD, SIBLING, OTHER = 1, 2, 3, 4, 5, 6, 99
REGISTERED, DECEASED, MOVED_OUT = 1, 2, 3
ITEMS = ("wage_contribution", "pension", "unemployment_benefit")
WAGE, PENSION, BENEFIT = 0, 1, 2
VISIT_TYPES = ("inpatient", "chronic_outpatient", "outpatient")
INPATIENT, CHRONIC, OUTPATIENT = 0, 1, 2
DIAGNOSES = {  # ICD-10 code: relative frequency, per visit type
    INPATIENT: {
        "I63.9": 14,
        "I25.1": 10,
        "J18.9": 12,
        "J44.1": 7,
        "I21.9": 4,
        "K35.8": 5,
        "K80.2": 5,
        "S72.0": 4,
        "O80": 6,
        "N18.9": 3,
        "E11.9": 5,
        "I10": 6,
        "C34.9": 3,
        "C16.9": 2,
        "C22.0": 2,
        "C50.9": 2,
        "M17.9": 3,
    },
    CHRONIC: {
        "I10": 30,
        "E11.9": 25,
        "I25.1": 12,
        "J44.9": 8,
        "N18.9": 5,
        "I63.9": 8,
        "F20.9": 4,
        "C34.9": 3,
        "C50.9": 2,
        "M06.9": 3,
    },
    OUTPATIENT: {
        "J06.9": 30,
        "K29.7": 12,
        "M54.5": 10,
        "J02.9": 10,
        "I10": 8,
        "E11.9": 6,
        "L30.9": 6,
        "H10.9": 5,
        "R51": 5,
        "K59.0": 4,
        "N39.0": 4,
    },
}
CANCER = {code for codes in DIAGNOSES.values() for code in codes if code.startswith("C")}


def day_number(d: date) -> int:
    return (d - EPOCH).days


@dataclass
class People:
    """One row per person, sorted by household; a chunk is a contiguous slice."""

    household: np.ndarray  # int32 index into the city's households
    relation: np.ndarray  # int8 relation_to_head code (99 other)
    male: np.ndarray  # bool
    birth: np.ndarray  # int32 day number
    event: np.ndarray  # int8 status after the event (1 none, 2 deceased, 3 moved out)
    event_day: np.ndarray  # int32 day number of the event
    in_registry: np.ndarray  # bool: False for people who left (orphans in other sources)
    id_chars: np.ndarray  # uint8 (n, 18) ASCII resident ID
    name_parts: np.ndarray  # int16 (n, 3): surname, given-name characters (-1 none)

    def __len__(self) -> int:
        return len(self.household)

    def slice(self, start: int, stop: int) -> People:
        return People(*(getattr(self, f.name)[start:stop] for f in fields(self)))


@dataclass
class City:
    as_of: date
    household_number: np.ndarray  # int64, 8 digits after "3714"
    region_code: np.ndarray  # int64, 12 digits
    urban: np.ndarray  # bool: residence_type 1
    people: People

    def person_range(self, first_household: int, stop_household: int) -> tuple[int, int]:
        return tuple(np.searchsorted(self.people.household, [first_household, stop_household]))


def build_city(households: int, rng: np.random.Generator, as_of: date) -> City:
    """Draw the whole city: where each household lives, who lives in it, their IDs."""
    county, urban, region_code = _household_places(households, rng)
    size = np.zeros(households, np.int64)
    for is_urban in (True, False):
        pick = urban == is_urban
        size[pick] = rng.choice(np.arange(1, 8), size=pick.sum(), p=HOUSEHOLD_SIZE_P[is_urban])
    relation, age, male = _household_members(size, rng)
    household, slot = np.nonzero(relation)
    relation, age, male = relation[household, slot], age[household, slot], male[household, slot]
    today = day_number(as_of)
    birth = (today - np.floor(age * 365.25)).astype(np.int32)
    event, event_day = _life_events(age, birth, today, rng)
    # ~0.05% of households moved away whole (at least one, so even a small city has
    # orphans in the other sources); ~0.5% have lost their head row
    moved_away = rng.random(households)
    moved_away = (moved_away < 0.0005) | (moved_away == moved_away.min())
    in_registry = ~moved_away[household] & ~((rng.random(households)[household] < 0.005) & (relation == HEAD))
    id_region = _id_region(county[household], relation, birth, rng)
    id_chars = resident_id_chars(id_region, birth, _id_sequence(id_region, birth, male))
    number = (np.arange(households, dtype=np.int64) * 7_654_321 + 12_345_679) % 100_000_000
    return City(
        as_of=as_of,
        household_number=number,
        region_code=region_code,
        urban=urban,
        people=People(
            household=household.astype(np.int32),
            relation=relation.astype(np.int8),
            male=male,
            birth=birth,
            event=event,
            event_day=event_day,
            in_registry=in_registry,
            id_chars=id_chars,
            name_parts=_name_parts(household, relation, male, age, rng),
        ),
    )


def _household_places(households: int, rng: np.random.Generator):
    weights = np.array([c[2] for c in COUNTIES], float)
    county_idx = rng.choice(len(COUNTIES), size=households, p=weights / weights.sum())
    urban_share = np.array([c[3] for c in COUNTIES])
    urban = rng.random(households) < urban_share[county_idx]
    streets = np.array([c[4] for c in COUNTIES])[county_idx]
    towns = np.array([c[5] for c in COUNTIES])[county_idx]
    # streets are 001-0nn; towns 101-1nn, the last two are townships (乡) 201-202
    u = rng.random(households)
    town = (u * towns).astype(np.int64) + 1
    town = np.where(town > towns - 2, 200 + town - (towns - 2), 100 + town)
    township = np.where(urban, (u * streets).astype(np.int64) + 1, town)
    # communities 001-0xx in streets, villages 201-2xx in towns; skewed so some are big
    village = np.where(
        urban,
        1 + (rng.beta(1.2, 2.0, households) * 28).astype(np.int64),
        201 + (rng.beta(1.2, 1.6, households) * 68).astype(np.int64),
    )
    code = np.array([c[0] for c in COUNTIES], np.int64)[county_idx]
    return code, urban, code * 1_000_000 + township * 1_000 + village


def _household_members(size: np.ndarray, rng: np.random.Generator):
    """Roles, ages and sexes on a (households, 7) grid; relation 0 marks an empty slot."""
    h = len(size)
    u = rng.random(h)
    head_age = np.where(u < 0.45, rng.normal(44, 9, h), rng.uniform(22, 80, h))
    head_age = np.where(size == 1, np.where(u < 0.55, rng.uniform(23, 58, h), rng.uniform(60, 92, h)), head_age)
    head_age = np.where(size == 2, np.where(u < 0.4, rng.uniform(60, 88, h), rng.normal(42, 12, h)), head_age)
    head_age = np.where(size >= 5, np.where(u < 0.4, rng.uniform(52, 72, h), rng.normal(42, 6, h)), head_age)
    head_age = _fold_into(head_age, 18.5, 95, rng)
    slots = np.arange(7)
    present = slots[None, :] < size[:, None]
    relation = np.zeros((h, 7), np.int8)
    relation[:, 0] = HEAD
    relation[:, 1] = np.where(rng.random(h) < 0.86, SPOUSE, np.where(head_age > 45, CHILD, PARENT))
    # later slots: children for younger heads, grandchildren for older ones
    band = np.digitize(head_age, [40, 55])[:, None]
    cum = np.array([[0.82, 0.97, 0.97, 0.99], [0.78, 0.88, 0.96, 0.98], [0.40, 0.42, 0.96, 0.98]])
    draw = rng.random((h, 7))
    role = np.select(
        [draw < cum[band, 0], draw < cum[band, 1], draw < cum[band, 2], draw < cum[band, 3]],
        [CHILD, PARENT, GRANDCHILD, SIBLING],
        OTHER,
    )
    relation[:, 2:] = role[:, 2:]
    relation[~present] = 0
    too_many_parents = np.cumsum(relation == PARENT, axis=1) > 2
    relation[too_many_parents & (relation == PARENT)] = CHILD

    gap = rng.uniform(22, 36, (h, 7))
    age = np.select(
        [
            relation == HEAD,
            relation == SPOUSE,
            relation == CHILD,
            relation == PARENT,
            relation == GRANDCHILD,
            relation == SIBLING,
        ],
        [
            np.repeat(head_age[:, None], 7, axis=1),
            head_age[:, None] + rng.normal(-2, 3, (h, 7)),
            head_age[:, None] - gap,
            head_age[:, None] + gap,
            head_age[:, None] - gap - rng.uniform(22, 32, (h, 7)),
            head_age[:, None] + rng.normal(0, 6, (h, 7)),
        ],
        rng.uniform(0, 80, (h, 7)),
    )
    # a grandchild too young to exist is a child; a child too young is a parent
    fix = (relation == GRANDCHILD) & (age < 0)
    relation[fix], age[fix] = CHILD, (head_age[:, None] - gap)[fix]
    fix = (relation == CHILD) & (age < 0)
    relation[fix], age[fix] = PARENT, (head_age[:, None] + gap)[fix]
    age = np.where(relation == SPOUSE, _fold_into(age, 18.5, 98, rng), _fold_into(age, 0, 100, rng))
    age = age.astype(np.float32)
    male = rng.random((h, 7)) < 0.51
    male[:, 0] = rng.random(h) < 0.8
    male[:, 1] = np.where(relation[:, 1] == SPOUSE, ~male[:, 0], male[:, 1])
    return relation, age, male


def _fold_into(age, low, high, rng):
    """Bring ages into [low, high] without piling people onto one birthday."""
    age = np.where(age < low, low + rng.uniform(0, 3, age.shape), age)
    return np.where(age > high, high - rng.uniform(0, 15, age.shape), age)


def _life_events(age, birth, today, rng):
    """Deaths and moves out over the last two years: the snapshot keeps these rows
    with status 2 or 3 and the date; a few fall between the three snapshots."""
    n = len(age)
    yearly_death = np.where(age < 40, 0.0006, 0.0005 * np.exp(0.085 * (age - 30)))
    yearly_move = np.where((age >= 18) & (age < 45), 0.004, 0.0008)
    u = rng.random(n)
    event = np.full(n, REGISTERED, np.int8)
    event[u < 2 * yearly_death] = DECEASED
    event[(u >= 2 * yearly_death) & (u < 2 * (yearly_death + yearly_move))] = MOVED_OUT
    event_day = today - rng.integers(0, 730, n)
    event_day = np.maximum(event_day, birth + 1).astype(np.int32)
    return event, event_day


def _id_region(county, relation, birth, rng):
    """The region an ID was issued in: mostly the county, older people keep abolished codes."""
    n = len(county)
    u = rng.random(n)
    old = _map(county, OLD_ID_REGION)
    region = np.where((birth < day_number(date(1994, 1, 1))) & (u < 0.55), old, county)
    lingxian = (county == 371403) & (birth >= day_number(date(1994, 1, 1))) & (birth < day_number(date(2014, 10, 1)))
    region = np.where(lingxian & (u < 0.8), 371421, region)
    migrant = (relation == SPOUSE) & (rng.random(n) < 0.08)
    region[migrant] = MIGRANT_ID_REGION[rng.integers(0, len(MIGRANT_ID_REGION), migrant.sum())]
    return region.astype(np.int64)


def _map(keys: np.ndarray, table: dict) -> np.ndarray:
    src = np.array(sorted(table))
    return np.array([table[k] for k in src])[np.searchsorted(src, keys)]


def _id_sequence(region, birth, male):
    """3-digit sequence, odd for men, unique per (region, birth date): rank within the
    group, rotated by a per-group offset so the numbers do not all start at 000."""
    key = (region * 100_000 + (birth.astype(np.int64) + 50_000)) * 2 + male
    order = np.argsort(key, kind="stable")
    key = key[order]
    start = np.r_[True, key[1:] != key[:-1]]
    group_first = np.maximum.accumulate(np.where(start, np.arange(len(key)), 0))
    rank = np.arange(len(key)) - group_first
    if len(rank) and rank.max() >= 500:
        raise ValueError("city too large for unique resident ID sequences")
    offset = (key % 999_983) * 7_919 % 500
    seq = np.empty(len(key), np.int64)
    seq[order] = ((offset + rank) % 500) * 2 + male[order]
    return seq


ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.frombuffer(b"10X98765432", np.uint8)


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Day numbers as integers like 19991231, through a table over the days spanned."""
    days = np.asarray(days, np.int64)
    low = int(days.min()) if len(days) else 0
    span = np.arange(low, (int(days.max()) if len(days) else 0) + 1).astype("datetime64[D]")
    y = span.astype("datetime64[Y]").astype(np.int64) + 1970
    m = span.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (span - span.astype("datetime64[M]")).astype(np.int64) + 1
    return (y * 10_000 + m * 100 + d)[days - low]


# "00".."99" as two ASCII bytes read as one uint16, so one lookup writes two digits
DIGIT_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], np.uint8).view(np.uint16).ravel()


def digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an (n, width) ASCII array."""
    values = np.asarray(values, np.int64)
    pairs = np.empty((len(values), (width + 1) // 2), np.uint16)
    for j in range(pairs.shape[1] - 1, -1, -1):
        values, last_two = np.divmod(values, 100)
        pairs[:, j] = DIGIT_PAIRS[last_two]
    return pairs.view(np.uint8)[:, width % 2 :]


def resident_id_chars(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """18-character GB 11643-1999 IDs as an (n, 18) ASCII array, check char by ISO 7064 MOD 11-2."""
    first17 = np.asarray(region, np.int64) * 10**11 + yyyymmdd(birth) * 1_000 + seq
    chars = np.empty((len(first17), 18), np.uint8)
    chars[:, :17] = digit_matrix(first17, 17)
    total = np.zeros(len(first17), np.int32)
    for j, weight in enumerate(ID_WEIGHTS):
        total += (chars[:, j].astype(np.int32) - 48) * weight
    chars[:, 17] = ID_CHECK[total % 11]
    return chars


def id_check_char(first17: str) -> str:
    """Check character for one 17-digit prefix (used to forge bad rows)."""
    return chr(ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11])


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董肖程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶闫"
SURNAME_WEIGHT = np.r_[
    np.array([9, 8, 9, 7, 4, 3, 3, 2, 2, 2, 2, 3, 2, 2, 3, 1, 2, 2, 2, 1], float), np.full(len(SURNAMES) - 20, 0.8)
]
GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆国建志文立成庆德"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英华慧巧美娅淑惠珍玉兰凤洁琳素云莲真环雪荣爱妹"
GIVEN_NEUTRAL = "海东晓春红云金宏永玉子欣佳家新长丹彤一雨"
NAME_CHARS = SURNAMES + GIVEN_MALE + GIVEN_FEMALE + GIVEN_NEUTRAL


def _name_parts(household, relation, male, age, rng):
    """Indices into NAME_CHARS: a surname and one or two given-name characters;
    children of a male head mostly carry his surname."""
    n = len(household)
    base_m = len(SURNAMES)
    base_f = base_m + len(GIVEN_MALE)
    base_n = base_f + len(GIVEN_FEMALE)
    surname = rng.choice(len(SURNAMES), size=n, p=SURNAME_WEIGHT / SURNAME_WEIGHT.sum())
    head = np.searchsorted(household, household)  # slot 0 of each household is its head
    inherits = np.isin(relation, [CHILD, GRANDCHILD, SIBLING]) & male[head] & (rng.random(n) < 0.92)
    surname = np.where(inherits, surname[head], surname)

    def given():
        own = np.where(
            male, base_m + rng.integers(0, len(GIVEN_MALE), n), base_f + rng.integers(0, len(GIVEN_FEMALE), n)
        )
        return np.where(rng.random(n) < 0.3, base_n + rng.integers(0, len(GIVEN_NEUTRAL), n), own)

    first, second = given(), given()
    # older people more often have a single-character given name
    single = rng.random(n) < np.where(age > 50, 0.35, 0.15)
    second = np.where(single | (second == first), -1, second)
    return np.stack([surname, first, second], axis=1).astype(np.int16)


@dataclass
class Livelihood:
    """Per-person income parameters for the social-security months (人社)."""

    works: np.ndarray  # bool: has a contributing job when of working age
    wage_base: np.ndarray  # float: monthly contribution base, yuan
    job_start: np.ndarray  # int: period index a newly hired worker starts (0: already working)
    job_lost: np.ndarray  # int: period index the job ended (large: never)
    job_back: np.ndarray  # int: period index work resumed (large: never)
    benefit_until: np.ndarray  # int: first period without unemployment benefit
    pension: np.ndarray  # float: monthly pension once 60, yuan


NEVER = 10_000
UNEMPLOYMENT_BENEFIT = 1_530.0  # yuan a month
RURAL_WAGE_RECORD_SHARE = 0.5  # of the urban rate: rural workers with a formal wage record
RURAL_EMPLOYEE_PENSION_SHARE = 0.15  # rural elders with a former employer's pension


def draw_livelihood(
    people: People, urban: np.ndarray, today: int, periods: int, rng: np.random.Generator
) -> Livelihood:
    """Who works with a wage record, for what contribution base, who loses a job when, and
    what pension they draw. Most rural working-age people have no wage record (they farm or
    work informally, out of the social-security data); most rural elders draw only the
    residents' basic pension, a few hundred yuan a month."""
    n = len(people)
    age = (today - people.birth) / 365.25
    work_rate = np.interp(
        age, [15.9, 16, 19, 23, 26, 49, 50, 59.9], [0, 0.05, 0.2, 0.75, 0.96, 0.96, 0.92, 0.9]
    ) * np.where(urban, 1.0, RURAL_WAGE_RECORD_SHARE)
    works = rng.random(n) < work_rate
    # a few of those without a job find one during the year
    hired = ~works & (rng.random(n) < 0.04 * periods / 12)
    job_start = np.where(hired, rng.integers(1, periods, n), 0)
    works |= hired
    wage_base = np.maximum(rng.lognormal(np.log(np.where(urban, 5_000, 4_000)), 0.42), 3_500)
    # about 5% of workers a year lose their job; half of them draw benefits for a while
    lost = works & (rng.random(n) < 0.05 * periods / 12)
    job_lost = np.where(lost, rng.integers(0, periods, n), NEVER)
    job_back = np.where(lost & (rng.random(n) < 0.45), job_lost + rng.integers(1, 9, n), NEVER)
    on_benefit = lost & (rng.random(n) < 0.55)
    benefit_until = np.where(on_benefit, np.minimum(job_lost + rng.integers(2, 13, n), job_back), -1)
    # elders without a former employer's pension draw the basic residents' pension
    retiree = rng.random(n) < np.where(urban, 0.85, RURAL_EMPLOYEE_PENSION_SHARE)
    pension = np.where(
        retiree,
        np.clip(rng.lognormal(np.log(np.where(urban, 3_100, 2_300)), 0.18), 1_800, 6_000),
        rng.uniform(180, 400, n),
    )
    return Livelihood(works, wage_base, job_start, job_lost, job_back, benefit_until, pension)


def period_payments(
    people: People, life: Livelihood, period: int, first_day: int, raise_factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One month's social-security records: (person index, item, amount in cents).

    `raise_factor` is the yearly re-set of contribution bases and pensions (each July)."""
    age = (first_day - people.birth) / 365.25
    alive = ~((people.event == DECEASED) & (people.event_day < first_day)) & (people.birth <= first_day)
    working_age = alive & (age >= 16) & (age < 60)
    out_of_work = (period >= life.job_lost) & (period < life.job_back)
    wage = working_age & life.works & (period >= life.job_start) & ~out_of_work
    benefit = working_age & ~wage & (period >= life.job_lost) & (period < life.benefit_until)
    pension = alive & (age >= 60)
    person = np.concatenate([np.flatnonzero(wage), np.flatnonzero(pension), np.flatnonzero(benefit)])
    item = np.repeat(np.array([WAGE, PENSION, BENEFIT], np.int8), [wage.sum(), pension.sum(), benefit.sum()])
    yuan = np.concatenate(
        [
            life.wage_base[wage] * raise_factor,
            life.pension[pension] * raise_factor,
            np.full(benefit.sum(), UNEMPLOYMENT_BENEFIT),
        ]
    )
    order = np.argsort(person, kind="stable")
    return person[order], item[order], np.round(yuan[order] * 100).astype(np.int64)


DIAGNOSIS_CODES = tuple(sorted({code for codes in DIAGNOSES.values() for code in codes}))


@dataclass
class Settlements:
    """Medical-insurance settlements (医保结算) of a group of people."""

    person: np.ndarray
    visit: np.ndarray  # index into VISIT_TYPES
    admission: np.ndarray  # day number, NO_DATE for outpatient visits
    discharge: np.ndarray  # day number, NO_DATE for outpatient visits
    settled: np.ndarray  # day number
    diagnosis: np.ndarray  # index into DIAGNOSIS_CODES
    total_cents: np.ndarray
    fund_cents: np.ndarray

    def take(self, index) -> Settlements:
        return Settlements(*(getattr(self, f.name)[index] for f in fields(self)))


def draw_settlements(
    people: People, urban: np.ndarray, first_day: int, last_day: int, rng: np.random.Generator
) -> Settlements:
    """A year of settlements: inpatient stays, monthly chronic-disease visits, outpatient visits."""
    n = len(people)
    age = (last_day - people.birth) / 365.25
    years = (last_day - first_day + 1) / 365.0
    chronic = rng.random(n) < np.interp(age, [0, 30, 45, 60, 75, 100], [0.002, 0.012, 0.06, 0.17, 0.27, 0.29])
    inpatient_rate = np.interp(age, [0, 5, 20, 45, 60, 75, 90], [0.11, 0.05, 0.06, 0.1, 0.17, 0.29, 0.4])
    inpatient_rate = inpatient_rate * np.where(chronic, 1.6, 1.0)
    outpatient_rate = np.interp(age, [0, 6, 20, 60, 90], [2.0, 1.0, 0.6, 1.1, 1.4])

    stays = np.repeat(np.arange(n), rng.poisson(inpatient_rate * years))
    stay_end = rng.integers(first_day, last_day + 1, len(stays))
    # half of those who died in the window spent their last days in hospital
    died = np.flatnonzero(
        (people.event == DECEASED)
        & (people.event_day >= first_day)
        & (people.event_day <= last_day)
        & (rng.random(n) < 0.5)
    )
    stays, stay_end = np.r_[stays, died], np.r_[stay_end, people.event_day[died]]
    los = np.clip(np.round(rng.lognormal(np.log(8), 0.6, len(stays))), 1, 90).astype(np.int64)

    first_month, last_month = (np.datetime64(int(d), "D").astype("datetime64[M]") for d in (first_day, last_day))
    months = np.arange(first_month, last_month + 1).astype("datetime64[D]").astype(np.int64)
    patients = np.flatnonzero(chronic)
    chronic_person = np.repeat(patients, len(months))
    chronic_day = np.tile(months, len(patients)) + rng.integers(0, 28, len(chronic_person))
    keep = rng.random(len(chronic_person)) < 0.92
    chronic_person, chronic_day = chronic_person[keep], chronic_day[keep]

    visits = np.repeat(np.arange(n), rng.poisson(outpatient_rate * years))
    visit_day = rng.integers(first_day, last_day + 1, len(visits))

    person = np.concatenate([stays, chronic_person, visits])
    visit = np.repeat(
        np.array([INPATIENT, CHRONIC, OUTPATIENT], np.int8), [len(stays), len(chronic_person), len(visits)]
    )
    settled = np.concatenate([stay_end, chronic_day, visit_day])
    inpatient = visit == INPATIENT
    discharge = np.where(inpatient, settled, NO_DATE)
    admission = settled - np.r_[los, np.zeros(len(person) - len(stays), np.int64)]
    admission = np.where(inpatient, np.maximum(admission, people.birth[person]), NO_DATE)

    valid = (settled >= first_day) & (settled <= last_day) & (settled >= people.birth[person])
    valid &= ~((people.event[person] == DECEASED) & (settled > people.event_day[person]))
    s = Settlements(
        person,
        visit,
        admission,
        discharge,
        settled,
        np.zeros(len(person), np.int16),
        np.zeros(len(person), np.int64),
        np.zeros(len(person), np.int64),
    ).take(valid)
    age_then = (s.settled - people.birth[s.person]) / 365.25
    _price(s, urban[s.person], ~people.male[s.person] & (age_then >= 20) & (age_then < 43), rng)
    return s.take(np.lexsort((s.person, s.settled)))


def _price(s: Settlements, urban: np.ndarray, may_give_birth: np.ndarray, rng: np.random.Generator) -> None:
    """Diagnosis, total cost and the fund's share; a few catastrophic inpatient cases."""
    m = len(s.person)
    median = np.array([9_000.0, 600.0, 150.0])[s.visit]
    sigma = np.array([0.75, 0.55, 0.8])[s.visit]
    share_low = np.array([0.55, 0.60, 0.0])[s.visit] + np.where(urban, 0.05, 0.0)
    share_high = np.array([0.70, 0.80, 0.50])[s.visit] + np.where(urban, 0.05, 0.0)
    for visit, weights in DIAGNOSES.items():
        rows = np.flatnonzero(s.visit == visit)
        codes = np.searchsorted(DIAGNOSIS_CODES, list(weights))
        p = np.array(list(weights.values()), float)
        s.diagnosis[rows] = codes[rng.choice(len(codes), size=len(rows), p=p / p.sum())]
    childbirth = s.diagnosis == DIAGNOSIS_CODES.index("O80")
    s.diagnosis[childbirth & ~may_give_birth] = DIAGNOSIS_CODES.index("J18.9")
    cancer = np.isin(s.diagnosis, np.searchsorted(DIAGNOSIS_CODES, sorted(CANCER)))
    yuan = rng.lognormal(np.log(median), sigma) * np.where(cancer & (s.visit == INPATIENT), 2.5, 1.0)
    catastrophic = (s.visit == INPATIENT) & (rng.random(m) < 0.012)
    yuan = np.where(catastrophic, rng.lognormal(np.log(90_000), 0.5, m), yuan)
    share = rng.uniform(share_low, share_high) - np.where(catastrophic, 0.1, 0.0)
    s.total_cents[:] = np.maximum(np.round(yuan * 100), 500)
    s.fund_cents[:] = np.round(s.total_cents * share)
