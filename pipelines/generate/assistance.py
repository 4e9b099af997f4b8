"""Civil affairs' own records in the synthetic city: the assistance roll (救助对象名册), the
relapse-monitoring register of rural revitalisation (防返贫监测) and the caseworkers' visit
outcomes (核查反馈), drawn for one chunk of households as numbers.

About 5% of households are on the roll, chosen mostly among the poorest by formal and farm
income per head, rural ones more than urban ones. The roll carries the exceptions a
re-review must find, planted on purpose and counted: recipients still listed after they
died or moved out, a listed person who now lives in another household, households of
which nobody registered is left, and credit-approved households that declared far less
than they earn. Every other listed person is registered in the household on the run
date, so what the pipeline finds on that date is what was planted (less the few planted
rows, or registry rows, that bad rows replaced).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .departments import Household
from .population import DECEASED, MOVED_OUT, UNEMPLOYMENT_BENEFIT, Livelihood, People

PROGRAMMES = ("dibao", "tekun", "marginal", "rigid_expenditure")
DIBAO, TEKUN, MARGINAL, RIGID = range(4)
DECIDED = (*PROGRAMMES, "none")  # a visit's decided programme
NO_PROGRAMME = len(PROGRAMMES)
APPROVAL_MODES = ("investigated", "credit")
RELAPSE_STATUSES = ("lifted", "monitored", "risk_cleared")
LIFTED, MONITORED, RISK_CLEARED = range(3)
OUTCOMES = ("confirmed", "not_eligible", "not_found", "already_assisted")
CONFIRMED, NOT_ELIGIBLE, NOT_FOUND, ALREADY_ASSISTED = range(4)

# The standard the city pays dibao by (yuan a month per person), and what land and
# livestock really earn its farmers (yuan a year per mu or head, in FARM_ITEMS' order).
DIBAO_STANDARD = {True: 814.0, False: 666.0}  # urban, rural
FARM_NET_RETURN = np.array([500, 1200, 1500, 6000, 1500, 200, 150, 8], float)

ROLL_RATE = 0.05  # of households with a registered member
PROGRAMME_SHARE = {TEKUN: 0.10, MARGINAL: 0.20, RIGID: 0.10}  # of roll households; dibao the rest
URBAN_WEIGHT = 0.45  # an urban household's chance of the roll, relative to a rural one as poor
CREDIT_SHARE = 0.5
UNDERSTATED_SHARE = 0.10  # of credit-approved households
PLANTED_SHARE = 0.003  # of roll households, for each kind of exception
APPROVED_LATER_SHARE = 0.005  # approved after the extract date, not yet in force
RELAPSE_RATES = {LIFTED: 0.03, MONITORED: 0.005, RISK_CLEARED: 0.005}  # of rural households
VISIT_RATE, VISIT_DAYS = 0.01, 120
OUTCOME_SHARE = (0.55, 0.25, 0.10, 0.10)
VISIT_REDELIVERY_SHARE = 0.02


@dataclass
class Need:
    """The chunk's households as the bureau's programmes see them on the run date."""

    member: np.ndarray  # per person: registered on the run date and born by the extract date
    dependent: np.ndarray  # per person: a member under 16, 60 or over, or severely disabled
    size: np.ndarray  # per household: registered on the run date
    members: np.ndarray  # per household: count of `member`
    income: np.ndarray  # household monthly income, formal plus farm, yuan
    standard: np.ndarray  # dibao standard, yuan a month per person
    ratio: np.ndarray  # income per registered person / standard
    dependency: np.ndarray  # share of members who are dependents
    tekun_like: np.ndarray  # every member a dependent and none with a wage record


def assess_need(
    people: People,
    h: Household,
    life: Livelihood,
    holdings: tuple[np.ndarray, np.ndarray, np.ndarray],
    severe: np.ndarray,
    extract_day: int,
    run_day: int,
    periods: int,
) -> Need:
    """Formal income is the monthly mean over the last 12 of the `periods` social-security
    months (the run's income window): wages for the months worked, unemployment benefit
    for the months drawn, pensions."""
    local = people.household - h.first
    n = len(h.size)
    gone = ((people.event == DECEASED) | (people.event == MOVED_OUT)) & (people.event_day <= run_day)
    registered = people.in_registry & (people.birth <= run_day) & ~gone
    member = registered & (people.birth <= extract_day)
    age = (extract_day - people.birth) / 365.25
    working_age = (age >= 16) & (age < 60)
    first, stop = periods - 12, periods
    hired = np.maximum(life.job_start, first)
    out_of_work = np.maximum(np.minimum(life.job_back, stop) - np.maximum(life.job_lost, hired), 0)
    wage_months = np.where(life.works, np.maximum(stop - hired, 0) - out_of_work, 0)
    benefit_months = np.maximum(np.minimum(life.benefit_until, stop) - np.maximum(life.job_lost, first), 0)
    formal = np.where(
        registered & working_age, (life.wage_base * wage_months + UNEMPLOYMENT_BENEFIT * benefit_months) / 12, 0.0
    )
    formal += np.where(registered & (age >= 60), life.pension, 0.0)
    household, item, hundredths = holdings
    farm = np.bincount(household, weights=hundredths / 100 * FARM_NET_RETURN[item], minlength=n) / 12
    size = np.bincount(local, weights=registered, minlength=n).astype(np.int64)
    members = np.bincount(local, weights=member, minlength=n).astype(np.int64)
    income = np.bincount(local, weights=formal, minlength=n) + farm
    standard = np.where(h.urban, DIBAO_STANDARD[True], DIBAO_STANDARD[False])
    dependent = member & ((age < 16) | (age >= 60) | severe)
    dependents = np.bincount(local, weights=dependent, minlength=n)
    wage_record = np.bincount(local, weights=member & working_age & (wage_months > 0), minlength=n)
    return Need(
        member=member,
        dependent=dependent,
        size=size,
        members=members,
        income=income,
        standard=standard,
        ratio=income / np.maximum(size, 1) / standard,
        dependency=dependents / np.maximum(members, 1),
        tekun_like=(members > 0) & (dependents == members) & (wage_record == 0),
    )


def _weighted_pick(weight: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k indices without replacement, each more likely the larger its weight (exponential
    keys, Efraimidis-Spirakis); a weight of 0 is never drawn."""
    positive = weight > 0
    key = np.full(len(weight), np.inf)
    key[positive] = rng.exponential(size=int(positive.sum())) / weight[positive]
    return np.sort(np.argsort(key, kind="stable")[: min(k, int(positive.sum()))])


def _choose(candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    k = min(k, len(candidates))
    return np.sort(rng.choice(candidates, k, replace=False)) if k else candidates[:0]


@dataclass
class Roll:
    """Roll rows (one per covered person per programme) and each household's programme."""

    household: np.ndarray  # the chunk's household index the row lists the person under
    person: np.ndarray  # the chunk's person index
    programme: np.ndarray
    approved: np.ndarray  # day number
    credit: np.ndarray  # bool: approval_mode credit
    declared: np.ndarray  # cents, the household's declared monthly income
    benefit: np.ndarray  # cents a month for the person
    programme_of: np.ndarray  # per household: its first programme, -1 if not on the roll
    counts: Counter


def draw_roll(
    people: People, h: Household, need: Need, extract_day: int, rng: np.random.Generator, plant_one: bool
) -> Roll:
    """The roll as of the extract date. `plant_one` plants at least one of each exception,
    one household on two programmes and one approved after the extract date, so that a
    small city has them too."""
    n = len(need.size)
    local = people.household - h.first
    programme_of = _programmes(h, need, rng)
    on_roll = programme_of >= 0
    at_least = int(plant_one)
    approved = extract_day - rng.integers(0, 5 * 365, n)
    later = _choose(np.flatnonzero(on_roll), max(at_least, round(APPROVED_LATER_SHARE * int(on_roll.sum()))), rng)
    approved[later] = extract_day + rng.integers(1, 31, len(later))
    credit = rng.random(n) < CREDIT_SHARE
    in_force = on_roll & (approved <= extract_day)

    # The member a single-person dibao (单人保) or a second programme covers: a dependent
    # where there is one.
    order = np.lexsort((rng.random(len(people)), ~need.dependent, ~need.member, local))
    one = order[np.searchsorted(local[order], np.arange(n))]
    single = (programme_of == DIBAO) & (need.members >= 2) & (rng.random(n) < 0.05)
    covered = np.flatnonzero(need.member & on_roll[local] & (~single[local] | (np.arange(len(people)) == one[local])))
    each = max(at_least, round(PLANTED_SHARE * int(on_roll.sum())))
    planted = _plant(people, local, need, on_roll, in_force, extract_day, each, rng)
    programme_of[planted.empty] = np.where(rng.random(len(planted.empty)) < 0.6, DIBAO, TEKUN)
    approved = np.minimum(approved, planted.first_event - rng.integers(30, 400, n))  # while they were there
    listed = np.r_[covered, planted.deceased, planted.moved_out, planted.left_nobody]
    person = np.r_[listed, planted.movers]
    household = np.r_[local[listed], planted.hosts]
    programme = programme_of[household]
    approved_row = approved[household]

    # A few dibao and marginal households also get rigid-expenditure help for one member.
    helped = in_force & np.isin(programme_of, (DIBAO, MARGINAL))
    second = _choose(np.flatnonzero(helped & need.member[one]), max(at_least, round(0.02 * int(helped.sum()))), rng)
    person, household = np.r_[person, one[second]], np.r_[household, second]
    programme = np.r_[programme, np.full(len(second), RIGID, np.int8)]
    approved_row = np.r_[approved_row, np.minimum(approved[second] + rng.integers(30, 720, len(second)), extract_day)]

    # Declared income: at or a bit below the real one, far below it for some credit households.
    declared = need.income * rng.uniform(0.88, 1.0, n)
    credit_roll = np.flatnonzero(on_roll & credit)
    understated = _choose(
        credit_roll[need.income[credit_roll] >= 250], round(UNDERSTATED_SHARE * len(credit_roll)), rng
    )
    declared[understated] = need.income[understated] * rng.uniform(0.1, 0.5, len(understated))
    declared[planted.empty] = rng.uniform(100, 500, len(planted.empty))
    declared = np.round(declared)
    heads = np.where(need.size > 0, need.size, np.bincount(local[planted.left_nobody], minlength=n))
    per_head = (declared / np.maximum(heads, 1))[household]
    benefit = _benefit(programme, need.standard[household], per_head, rng)

    order = np.lexsort((person, programme, household))
    on_roll[planted.empty] = True
    counts = Counter(
        {
            "households": int(on_roll.sum()),
            "persons": len(person) - len(second),
            **{f"households_{p}": int((programme_of == i).sum()) for i, p in enumerate(PROGRAMMES)},
            "credit_households": int((on_roll & credit).sum()),
            "declared_understated_households": len(understated),
            "approved_after_extract_households": len(later),
            "two_programme_households": len(second),
            "deceased_recipients": len(planted.deceased),
            "moved_out_recipients": len(planted.moved_out),
            "recipients_in_another_household": len(planted.movers),
            "households_with_nobody_left": len(planted.empty),
        }
    )
    return Roll(
        household=household[order],
        person=person[order],
        programme=programme[order],
        approved=approved_row[order],
        credit=credit[household][order],
        declared=(declared[household] * 100).astype(np.int64)[order],
        benefit=benefit[order],
        programme_of=programme_of,
        counts=counts,
    )


def _programmes(h: Household, need: Need, rng: np.random.Generator) -> np.ndarray:
    """Each household's programme (-1 for none): tekun first (who qualifies is narrow),
    then dibao among the poorest, marginal just above the line, rigid expenditure anywhere
    low with dependents to care for; rural households before urban ones as poor."""
    eligible = need.members > 0
    target = round(ROLL_RATE * int(eligible.sum()))
    quota = {p: round(share * target) for p, share in PROGRAMME_SHARE.items()}
    quota[DIBAO] = target - sum(quota.values())
    rural = np.where(h.urban, URBAN_WEIGHT, 1.0)
    programme_of = np.full(len(need.size), -1, np.int8)
    for programme, weight in (
        (TEKUN, need.tekun_like * np.exp(-3 * need.ratio)),
        (DIBAO, np.exp(-4 * need.ratio) * (0.3 + need.dependency)),
        (MARGINAL, np.exp(-4 * np.abs(need.ratio - 1.2))),
        (RIGID, np.exp(-1.5 * need.ratio) * (0.3 + need.dependency)),
    ):
        free = eligible & (programme_of < 0)
        programme_of[_weighted_pick(np.where(free, rural * weight, 0.0), quota[programme], rng)] = programme
    return programme_of


@dataclass
class Planted:
    """The roll's exceptions: persons listed though gone, and where they are listed."""

    deceased: np.ndarray  # persons, listed in their own household (which has someone left)
    moved_out: np.ndarray
    movers: np.ndarray  # registered persons listed in another household ...
    hosts: np.ndarray  # ... this one, on the roll
    empty: np.ndarray  # households of which nobody registered is left
    left_nobody: np.ndarray  # their persons, every one of them listed
    first_event: np.ndarray  # per household: the earliest death or move of a listed person


def _plant(
    people: People,
    local: np.ndarray,
    need: Need,
    on_roll: np.ndarray,
    in_force: np.ndarray,
    extract_day: int,
    k: int,
    rng: np.random.Generator,
) -> Planted:
    """k households of each exception. The gone left before the extract date, so the
    extract itself is out of date; nobody else on the roll is gone by the run date."""
    n = len(need.size)
    in_registry = people.in_registry & (people.birth <= extract_day)
    gone = in_registry & ((people.event == DECEASED) | (people.event == MOVED_OUT)) & (people.event_day <= extract_day)
    first_event = np.full(n, 10**9, np.int64)
    found = []
    for event in (DECEASED, MOVED_OUT):
        listed = gone & (people.event == event)
        households = _choose(np.flatnonzero(in_force & (np.bincount(local, listed, minlength=n) > 0)), k, rng)
        found.append(np.flatnonzero(listed & np.isin(local, households)))
    adult = (extract_day - people.birth) / 365.25 >= 18
    movers = _choose(np.flatnonzero(need.member & adult & ~on_roll[local]), k, rng)
    hosts = rng.permutation(_choose(np.flatnonzero(in_force), len(movers), rng))
    every_one_gone = np.bincount(local, gone, minlength=n) == np.bincount(local, in_registry, minlength=n)
    empty = _choose(
        np.flatnonzero(~on_roll & (need.size == 0) & every_one_gone & (np.bincount(local, gone, minlength=n) > 0)),
        k,
        rng,
    )
    left_nobody = np.flatnonzero(in_registry & np.isin(local, empty))
    for persons in (*found, left_nobody):
        np.minimum.at(first_event, local[persons], people.event_day[persons])
    return Planted(found[0], found[1], movers[: len(hosts)], hosts, empty, left_nobody, first_event)


def _benefit(programme: np.ndarray, standard: np.ndarray, per_head: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cents a month per person: the gap to the standard for dibao; for tekun 1.3 times
    the standard less the income per head, at least 0.6 of it; less for marginal (a share
    of the gap to 1.5 times the standard) and rigid expenditure (100 to 500 yuan)."""
    yuan = np.select(
        [programme == DIBAO, programme == TEKUN, programme == MARGINAL],
        [
            np.maximum(standard - per_head, 0),
            np.maximum(1.3 * standard - per_head, 0.6 * standard),
            0.3 * np.maximum(1.5 * standard - per_head, 0),
        ],
        rng.integers(10, 51, len(programme)) * 10.0,
    )
    return (np.round(yuan) * 100).astype(np.int64)


def draw_relapse(
    h: Household, need: Need, extract_day: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rural households lifted out of poverty (most of them years ago), monitored for a
    relapse, or whose risk was cleared: (household, status, since day)."""
    n = len(need.size)
    rural = ~h.urban & (need.size > 0)
    status = np.full(n, -1, np.int8)
    for code, weight in (
        (MONITORED, np.exp(-2 * need.ratio) * (0.3 + need.dependency)),
        (LIFTED, np.exp(-need.ratio)),
        (RISK_CLEARED, np.exp(-0.5 * need.ratio)),
    ):
        free = rural & (status < 0)
        status[_weighted_pick(np.where(free, weight, 0.0), round(RELAPSE_RATES[code] * int(rural.sum())), rng)] = code
    household = np.flatnonzero(status >= 0)
    status = status[household]
    years_ago = np.where(status == LIFTED, rng.integers(6 * 365, 10 * 365, len(household)), 0)
    since = extract_day - np.where(status == LIFTED, years_ago, rng.integers(30, 3 * 365, len(household)))
    return household, status, since


def _finding(need: Need) -> np.ndarray:
    """The programme a caseworker who confirms the hardship decides, per household."""
    poor = need.ratio < 1
    return np.select([need.tekun_like & poor, poor, need.ratio < 1.5], [TEKUN, DIBAO, MARGINAL], RIGID).astype(np.int8)


@dataclass
class Visits:
    """Visit outcomes, each in the delivery of its day or a little later; a few come
    again in a later delivery with another outcome, same key."""

    key: np.ndarray
    household: np.ndarray
    day: np.ndarray
    outcome: np.ndarray
    decided: np.ndarray  # index into DECIDED
    delivered: np.ndarray  # day number of the delivery
    redelivered: int
    counts: Counter


def draw_visits(
    need: Need, programme_of: np.ndarray, run_day: int, first_key: int, rng: np.random.Generator, plant_one: bool
) -> Visits:
    """About 1% of households visited in the 120 days up to the run date, mostly those an
    alert for low income would have named; delivered the next day (some a day or two
    later), the last delivery the day after the run date."""
    eligible = need.size > 0
    weight = np.where(need.ratio < 2, np.exp(-1.5 * need.ratio), 0.01) * eligible
    household = _weighted_pick(weight, round(VISIT_RATE * int(eligible.sum())), rng)
    m = len(household)
    day = run_day - rng.integers(0, VISIT_DAYS + 1, m)
    late = np.where(rng.random(m) < 0.15, rng.integers(1, 3, m), 0)
    delivered = np.minimum(day + 1 + late, run_day + 1)
    quota = np.diff(np.r_[0, np.round(np.cumsum(OUTCOME_SHARE) * m)]).astype(np.int64)
    # households on the roll are the ones most often found already assisted
    on_roll = programme_of[household] >= 0
    found_first = np.argsort(rng.random(m) + np.where(on_roll, 0.0, 0.7), kind="stable")
    outcome = np.empty(m, np.int8)
    outcome[found_first] = np.r_[
        np.full(quota[ALREADY_ASSISTED], ALREADY_ASSISTED),
        rng.permutation(np.repeat(np.arange(ALREADY_ASSISTED), quota[:ALREADY_ASSISTED])),
    ]
    finding = _finding(need)[household]
    assisted = np.where(programme_of[household] >= 0, programme_of[household], NO_PROGRAMME)
    decided = np.select([outcome == CONFIRMED, outcome == ALREADY_ASSISTED], [finding, assisted], NO_PROGRAMME)
    key = first_key + np.arange(m)
    # a revisit changes the outcome: a household not found or judged eligible after all
    again = _choose(np.flatnonzero(delivered <= run_day), max(int(plant_one), round(VISIT_REDELIVERY_SHARE * m)), rng)
    new_outcome = np.where(outcome[again] == CONFIRMED, NOT_ELIGIBLE, CONFIRMED).astype(np.int8)
    new_decided = np.where(new_outcome == CONFIRMED, finding[again], NO_PROGRAMME)
    counts = Counter({"visits": m, **{name: int((outcome == i).sum()) for i, name in enumerate(OUTCOMES)}})
    return Visits(
        key=np.r_[key, key[again]],
        household=np.r_[household, household[again]],
        day=np.r_[day, day[again]],
        outcome=np.r_[outcome, new_outcome],
        decided=np.r_[decided, new_decided].astype(np.int8),
        delivered=np.r_[delivered, np.minimum(delivered[again] + rng.integers(1, 8, len(again)), run_day + 1)],
        redelivered=len(again),
        counts=counts,
    )
