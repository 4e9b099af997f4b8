"""The second wave's departments in the synthetic city: land and livestock (农业农村),
disability certificates (残联), vehicles (公安交管), market entities (市场监管) and real
estate (不动产登记), drawn for one chunk of households as numbers.

The economy follows a prefecture-level city of the North China Plain: land and livestock
follow each county's farming (grain everywhere, orchards in Leling, greenhouses in
Lingcheng and Qihe, livestock in Ningjin and Wucheng), and households without a formal
wage earner farm more; about 2% of people hold a disability certificate, more of them
old; cars, businesses and second homes are concentrated in better-off urban households.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.contracts.types import CREDIT_CODE_CHARACTERS, CREDIT_CODE_WEIGHTS

from .population import DECEASED, HEAD, MOVED_OUT, SPOUSE, City, People

FARM_ITEMS = ("grain_land", "cash_crop_land", "orchard", "greenhouse", "cattle", "pig", "sheep", "poultry")
GRAIN, CASH_CROP, ORCHARD, GREENHOUSE, CATTLE, PIG, SHEEP, POULTRY = range(8)
# county: grain mu per rural person, and the weight of cash crops, orchards, greenhouses, livestock
FARMING = {
    371402: (1.6, 1.0, 0.5, 1.0, 0.5),
    371403: (2.8, 1.0, 1.0, 2.5, 1.0),
    371422: (3.0, 1.5, 0.8, 0.8, 1.8),
    371423: (3.0, 1.0, 1.2, 0.8, 1.0),
    371424: (3.2, 1.2, 0.8, 1.0, 1.0),
    371425: (3.4, 1.0, 0.6, 2.0, 1.0),
    371426: (3.2, 1.3, 0.8, 1.0, 1.0),
    371427: (3.4, 1.8, 0.6, 0.8, 1.0),
    371428: (3.0, 1.2, 0.6, 0.8, 1.8),
    371481: (3.0, 0.8, 3.5, 0.8, 1.0),
    371482: (3.4, 1.0, 0.8, 1.2, 1.0),
}
DISABILITY_TYPES = ("1", "2", "3", "4", "5", "6", "7")
DISABILITY_TYPE_P = (0.12, 0.15, 0.02, 0.45, 0.08, 0.10, 0.08)
GRADE_P = (0.12, 0.23, 0.30, 0.35)
VEHICLE_CLASSES = ("passenger_car", "truck", "motorcycle", "tricycle", "agricultural")
CAR, TRUCK, MOTORCYCLE, TRICYCLE, AGRICULTURAL = range(5)
ROLES, ENTERPRISE_TYPES = ("legal_rep", "investor"), ("individual", "company")
BUSINESS_STATUSES = ("active", "revoked", "cancelled")
PROPERTY_TYPES, PROPERTY_STATUSES = ("residential", "commercial"), ("registered", "cancelled")


@dataclass
class Household:
    """The chunk's households as the departments see them: who is registered and alive,
    and the formal monthly income per member (wages and pensions) that wealth follows."""

    first: int  # global index of the chunk's first household
    county: np.ndarray
    urban: np.ndarray
    size: np.ndarray  # registered, alive members
    earners: np.ndarray  # members with a formal wage
    per_capita: np.ndarray  # yuan a month
    adult: np.ndarray  # per person: registered, alive, 18 to 70
    head: np.ndarray  # per person: the household's head
    living: np.ndarray  # per person: registered and alive on the extract date


def households_of(
    city: City, people: People, works: np.ndarray, wage: np.ndarray, pension: np.ndarray, today: int
) -> Household:
    first, stop = int(people.household[0]), int(people.household[-1]) + 1
    local = people.household - first
    age = (today - people.birth) / 365.25
    gone = (people.event == DECEASED) | (people.event == MOVED_OUT)
    living = people.in_registry & (people.birth <= today) & ~(gone & (people.event_day <= today))
    formal = np.where(living & works & (age >= 16) & (age < 60), wage, 0.0) + np.where(living & (age >= 60), pension, 0)
    n = stop - first
    size = np.bincount(local, weights=living, minlength=n)
    income = np.bincount(local, weights=formal, minlength=n)
    earners = np.bincount(local, weights=living & works & (age >= 16) & (age < 60), minlength=n)
    return Household(
        first=first,
        county=city.region_code[first:stop] // 1_000_000,
        urban=city.urban[first:stop],
        size=size,
        earners=earners,
        per_capita=income / np.maximum(size, 1),
        adult=living & (age >= 18) & (age < 70),
        head=people.relation == HEAD,
        living=living,
    )


def _farming(county: np.ndarray) -> np.ndarray:
    table = np.array([FARMING.get(int(c), (3.0, 1.0, 1.0, 1.0, 1.0)) for c in county])
    return table.reshape(len(county), 5)


def draw_holdings(h: Household, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Land and livestock: (household index, item, quantity in hundredths). Most rural
    households hold grain land by their size; those without a wage earner farm more (land
    taken over from neighbours, a greenhouse, animals)."""
    n = len(h.size)
    farm = _farming(h.county)
    rural = ~h.urban & (h.size > 0)
    full_time = rural & (h.earners == 0) & (rng.random(n) < 0.75)
    scale = np.where(full_time, rng.lognormal(np.log(4.0), 0.6, n), rng.lognormal(0.0, 0.35, n))
    chosen: list[tuple[np.ndarray, int, np.ndarray]] = []

    def hold(p: np.ndarray, item: int, amount: np.ndarray) -> None:
        pick = np.flatnonzero(rng.random(n) < p)
        chosen.append((pick, item, amount[pick]))

    def head(low: int, mean: float) -> np.ndarray:
        return (low + rng.poisson(mean, n)).astype(float)

    boost = np.where(full_time, 3.5, 1.0)
    hold(np.where(rural, 0.92, 0.04 * (h.size > 0)), GRAIN, np.maximum(h.size, 1) * farm[:, 0] * scale)
    hold(rural * 0.10 * farm[:, 1] * boost, CASH_CROP, rng.uniform(1, 6, n))
    hold(rural * 0.04 * farm[:, 2] * boost, ORCHARD, rng.uniform(1, 8, n))
    hold(rural * 0.03 * farm[:, 3] * boost, GREENHOUSE, np.clip(rng.lognormal(np.log(2.0), 0.5, n), 0.5, 10))
    hold(rural * 0.03 * farm[:, 4] * boost, CATTLE, head(1, 4))
    hold(rural * 0.04 * farm[:, 4] * boost, PIG, head(2, 15))
    hold(rural * 0.03 * farm[:, 4] * boost, SHEEP, head(5, 15))
    hold(rural * 0.25, POULTRY, np.where(rng.random(n) < 0.03, head(500, 1500), head(10, 40)))
    household = np.concatenate([c[0] for c in chosen])
    item = np.concatenate([np.full(len(c[0]), c[1], np.int8) for c in chosen])
    quantity = np.concatenate([c[2] for c in chosen])
    livestock = item >= CATTLE
    hundredths = np.where(livestock, np.round(quantity) * 100, np.round(quantity * 10) * 10).astype(np.int64)
    order = np.lexsort((item, household))
    keep = order[hundredths[order] > 0]
    return household[keep], item[keep], hundredths[keep]


def draw_disability(people: People, h: Household, today: int, rng: np.random.Generator):
    """About 2% of the living hold a certificate, rising with age: (person, type, grade,
    certificate day)."""
    age = (today - people.birth) / 365.25
    rate = np.interp(age, [0, 16, 45, 60, 80, 100], [0.004, 0.008, 0.015, 0.035, 0.08, 0.12])
    person = np.flatnonzero(h.living & (rng.random(len(people)) < rate))
    kind = rng.choice(len(DISABILITY_TYPES), len(person), p=DISABILITY_TYPE_P)
    grade = rng.choice(4, len(person), p=GRADE_P) + 1
    since = np.maximum(people.birth[person] + 30, today - rng.integers(30, 15 * 365, len(person)))
    return person, kind, grade, since


def _owner(people: People, h: Household, household: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An adult of each household (the head where adult, else any adult): -1 where none."""
    local = people.household - h.first
    candidates = np.flatnonzero(h.adult)
    if len(candidates) == 0:
        return np.full(len(household), -1)
    order = np.lexsort((rng.random(len(candidates)), ~h.head[candidates], local[candidates]))
    candidates = candidates[order]
    first = np.searchsorted(local[candidates], household)
    found = (first < len(candidates)) & (local[candidates[np.minimum(first, len(candidates) - 1)]] == household)
    return np.where(found, candidates[np.minimum(first, len(candidates) - 1)], -1)


def draw_vehicles(people: People, h: Household, today: int, rng: np.random.Generator):
    """(owner, class, registration day, scrapped): cars follow formal income, more so in
    town; rural households keep tricycles and farm vehicles."""
    n = len(h.size)
    wealth = h.per_capita / 3000
    car = np.clip(np.where(h.urban, 0.04 + 0.30 * wealth, 0.02 + 0.15 * wealth), 0, 0.8)
    drawn = [
        (np.flatnonzero(rng.random(n) < car), np.where(rng.random(n) < np.where(h.urban, 0.03, 0.12), TRUCK, CAR)),
        (np.flatnonzero(rng.random(n) < np.where(h.urban, 0.08, 0.30)), np.full(n, TRICYCLE)),
        (np.flatnonzero(rng.random(n) < np.where(h.urban, 0.10, 0.25)), np.full(n, MOTORCYCLE)),
        (np.flatnonzero(rng.random(n) < np.where(h.urban, 0.0, 0.10)), np.full(n, AGRICULTURAL)),
    ]
    household = np.concatenate([d[0] for d in drawn])
    kind = np.concatenate([d[1][d[0]] for d in drawn]).astype(np.int8)
    owner = _owner(people, h, household, rng)
    keep = owner >= 0
    owner, kind = owner[keep], kind[keep]
    registered = today - rng.integers(20, 12 * 365, len(owner))
    scrapped = rng.random(len(owner)) < 0.06
    return owner, kind, registered, scrapped


def credit_codes(division: np.ndarray, category: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """18-character unified social credit codes (GB 32100-2015) as (n, 18) ASCII bytes: '9'
    (industry and commerce), the category ('1' company, '2' individual business), the
    county, a 9-character organisation code from the serial, and the MOD 31 check."""
    alphabet = np.frombuffer(CREDIT_CODE_CHARACTERS.encode(), np.uint8)
    n = len(serial)
    values = np.zeros((n, 17), np.int64)
    values[:, 0] = 9
    values[:, 1] = category
    for i in range(6):
        values[:, 2 + i] = division // 10 ** (5 - i) % 10
    rest = serial.astype(np.int64)
    for i in range(9):
        values[:, 16 - i] = rest % 31
        rest //= 31
    check = (31 - values @ np.array(CREDIT_CODE_WEIGHTS, np.int64) % 31) % 31
    return alphabet[np.column_stack([values, check])]


def draw_businesses(people: People, h: Household, serial0: int, rng: np.random.Generator):
    """(person, role, type, capital in cents, status, code chars): individual businesses
    and companies, more of them in better-off urban households."""
    n = len(h.size)
    wealth = h.per_capita / 3000
    p = np.clip(np.where(h.urban, 0.02 + 0.06 * wealth, 0.015 + 0.02 * wealth), 0, 0.5)
    household = np.flatnonzero(rng.random(n) < p)
    person = _owner(people, h, household, rng)
    keep = person >= 0
    household, person = household[keep], person[keep]
    company = rng.random(len(person)) < np.where(h.urban[household], 0.3, 0.12)
    capital = np.where(
        company, rng.lognormal(np.log(1_000_000), 1.0, len(person)), rng.lognormal(np.log(40_000), 1.0, len(person))
    )
    role = np.where(company & (rng.random(len(person)) < 0.4), 1, 0)
    status = rng.choice(3, len(person), p=(0.85, 0.05, 0.10))
    codes = credit_codes(h.county[household], np.where(company, 1, 2), serial0 + np.arange(len(person)) * 7_919)
    return person, role, company.astype(np.int8), np.round(capital * 100).astype(np.int64), status, codes


def draw_property(people: People, h: Household, rng: np.random.Generator):
    """(owner, property number, type, floor area in hundredths, cancelled): a home for most
    urban households and some rural ones (registered jointly with a spouse about half the
    time), second homes and shops with formal income."""
    n = len(h.size)
    wealth = h.per_capita / 3000
    lived = h.size > 0
    homes = (rng.random(n) < np.where(h.urban, 0.72, 0.20) * lived).astype(np.int64)
    homes += rng.random(n) < np.clip(np.where(h.urban, 0.03 + 0.12 * wealth, 0.01 + 0.04 * wealth), 0, 0.5) * homes
    shops = (rng.random(n) < np.clip(np.where(h.urban, 0.005 + 0.02 * wealth, 0.003), 0, 0.2) * lived).astype(np.int64)
    household = np.r_[np.repeat(np.arange(n), homes), np.repeat(np.arange(n), shops)]
    kind = np.r_[np.zeros(homes.sum(), np.int8), np.ones(shops.sum(), np.int8)]
    owner = _owner(people, h, household, rng)
    keep = owner >= 0
    household, kind, owner = household[keep], kind[keep], owner[keep]
    number = np.arange(len(owner))
    area = np.where(kind == 0, rng.lognormal(np.log(95), 0.3, len(owner)), rng.lognormal(np.log(60), 0.6, len(owner)))
    cancelled = rng.random(len(owner)) < 0.04
    # A home registered jointly: the head's spouse on a second row of the same property.
    spouse = _spouse(people, h, household)
    joint = np.flatnonzero((kind == 0) & (spouse >= 0) & (spouse != owner) & (rng.random(len(owner)) < 0.5))
    owner = np.r_[owner, spouse[joint]]
    number, kind, area, cancelled = (
        np.r_[number, number[joint]],
        np.r_[kind, kind[joint]],
        np.r_[area, area[joint]],
        np.r_[cancelled, cancelled[joint]],
    )
    order = np.argsort(number, kind="stable")
    return owner[order], number[order], kind[order], np.round(area[order] * 100).astype(np.int64), cancelled[order]


def _spouse(people: People, h: Household, household: np.ndarray) -> np.ndarray:
    local = people.household - h.first
    spouses = np.flatnonzero(h.living & (people.relation == SPOUSE))
    if len(spouses) == 0:
        return np.full(len(household), -1)
    first = np.minimum(np.searchsorted(local[spouses], household), len(spouses) - 1)
    return np.where(local[spouses[first]] == household, spouses[first], -1)
