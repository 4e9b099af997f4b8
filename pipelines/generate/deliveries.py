"""Write the synthetic city as department deliveries under `landing/<source>/<YYYY-MM-DD>/`,
byte for byte in the formats of interfaces.md (`lipmon generate`).

The city is drawn once as numbers; households are then processed in chunks, each chunk
appending its rows to every delivery file, so memory stays bounded. Lines are built
with Arrow string kernels and fixed-width numpy byte arrays, never row by row. A
delivery's `_READY` marker is written last, after every chunk.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import load_contract
from pipelines.contracts.files import schemas_dir

from .assistance import (
    APPROVAL_MODES,
    DECIDED,
    OUTCOMES,
    PROGRAMMES,
    RELAPSE_STATUSES,
    assess_need,
    draw_relapse,
    draw_roll,
    draw_visits,
)
from .defects import KINDS, inject_defects
from .departments import (
    BUSINESS_STATUSES,
    DISABILITY_TYPES,
    ENTERPRISE_TYPES,
    FARM_ITEMS,
    PROPERTY_STATUSES,
    PROPERTY_TYPES,
    ROLES,
    VEHICLE_CLASSES,
    Household,
    draw_businesses,
    draw_disability,
    draw_holdings,
    draw_property,
    draw_vehicles,
    households_of,
)
from .population import (
    DIAGNOSIS_CODES,
    EPOCH,
    ITEMS,
    NAME_CHARS,
    NEVER,
    NO_DATE,
    REGISTERED,
    VISIT_TYPES,
    City,
    Livelihood,
    People,
    Settlements,
    build_city,
    day_number,
    digit_matrix,
    draw_livelihood,
    draw_settlements,
    period_payments,
)

CHUNK_HOUSEHOLDS = 250_000
BAD_ROW_RATE = 0.002
SETTLEMENT_REDELIVERY_RATE = 0.01
PAYMENT_REDELIVERY_RATE = 0.005


@dataclass(frozen=True)
class Source:
    name: str
    file_name: str
    header: str
    encoding: str
    bom: bool = False


def _source(name: str, columns: list[str]) -> Source:
    """A source's delivered format, from its contract; the generator builds its lines in
    the contract's column order and refuses to run if the two ever disagree."""
    contract = load_contract(schemas_dir() / "sources" / f"{name}.yaml")
    if [c.name for c in contract.columns] != columns:
        raise RuntimeError(
            f"the generator writes {name} columns {columns}, the contract says {[c.name for c in contract.columns]}"
        )
    encoding = contract.delivery.encoding.lower().replace("_", "-")
    bom = encoding == "utf-8-sig"
    return Source(
        name,
        contract.delivery.files.replace("*", ""),
        ",".join(c.header for c in contract.columns),
        "utf-8" if bom else encoding,
        bom,
    )


RESIDENTS = _source(
    "residents",
    [
        "person_id",
        "name",
        "gender",
        "birth_date",
        "household_id",
        "relation_to_head",
        "region_code",
        "residence_type",
        "status",
        "status_date",
    ],
)
SETTLEMENTS = _source(
    "medical_settlements",
    [
        "settlement_id",
        "person_id",
        "visit_type",
        "admission_date",
        "discharge_date",
        "diagnosis_code",
        "total_cost",
        "fund_paid",
        "out_of_pocket",
        "settlement_date",
    ],
)
PAYMENTS = _source("social_security", ["record_id", "person_id", "period", "item", "amount"])
AGRICULTURE = _source("agriculture", ["household_id", "item", "quantity", "year"])
DISABILITY = _source("disability", ["person_id", "disability_type", "grade", "certificate_date"])
VEHICLES = _source("vehicles", ["vehicle_id", "person_id", "vehicle_class", "registration_date", "status"])
BUSINESSES = _source(
    "businesses", ["credit_code", "person_id", "role", "enterprise_type", "registered_capital", "status"]
)
PROPERTY = _source("property", ["property_id", "person_id", "property_type", "floor_area", "status"])
ROLL = _source(
    "assistance_roll",
    [
        "household_id",
        "person_id",
        "programme",
        "approval_date",
        "approval_mode",
        "declared_income",
        "monthly_benefit",
    ],
)
MONITORING = _source("relapse_monitoring", ["household_id", "status", "since_date"])
VISITS = _source("visit_outcomes", ["visit_id", "household_id", "visit_date", "outcome", "decided_programme"])


def _add_months(d: date, months: int) -> date:
    """The first day of the month `months` after d's month."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _next_month_first(days: np.ndarray) -> np.ndarray:
    months = np.asarray(days, "datetime64[D]").astype("datetime64[M]")
    return (months + 1).astype("datetime64[D]").astype(np.int64)


class Schedule:
    """Delivery dates relative to the snapshot date D (as_of).

    - residents: full snapshots at D-14, D-7 and D, and one at D+1 still being written;
    - medical settlements: a batch on the 1st of each month for the month before, from
      D-365 on; then daily: the first daily delivery (D-6) catches up the days since the
      last batch, the next ones hold the day before, up to D+1 (ignored by a run for D);
    - social security: the 13 periods before D's month, each delivered on the 10th of
      the month after it;
    - the second wave's snapshots (the roll and the relapse register among them) on the
      1st of D's month, land and livestock each March;
    - visit outcomes: the case system's daily export, every day from D-6 to D+1 (a file
      with its header alone on a day without visits, as a small county's often is), and
      before that a delivery for every day with visits, from D-119 on; each holds the
      visits of the day before or a day or two earlier.
    """

    def __init__(self, as_of: date):
        self.as_of = as_of
        self.snapshots = [as_of - timedelta(14), as_of - timedelta(7), as_of]
        self.unready_snapshot = as_of + timedelta(1)
        year_ago = as_of - timedelta(365)
        first_batch = year_ago if year_ago.day == 1 else _add_months(year_ago, 1)
        self.daily_start = as_of - timedelta(6)
        months = [_add_months(first_batch, k) for k in range(14)]
        self.batches = [d for d in months if d <= self.daily_start]
        self.daily_exports = [self.daily_start + timedelta(k) for k in range(8)]
        self.settlement_deliveries = sorted(set(self.batches) | set(self.daily_exports))
        self.settlement_first_day = day_number(_add_months(first_batch, -1))
        self.settlement_last_day = day_number(as_of)
        this_month = as_of.replace(day=1)
        # The second wave's snapshots: the departments deliver on the 1st of the month (or
        # earlier in the month for a night in its first days); land and livestock each March.
        self.departments = this_month if as_of.day > 1 else _add_months(this_month, -1)
        self.agriculture = date(as_of.year if as_of >= date(as_of.year, 3, 2) else as_of.year - 1, 3, 1)
        self.periods = [_add_months(this_month, k) for k in range(-13, 0)]
        self.payment_deliveries = [_add_months(p, 1).replace(day=10) for p in self.periods]

    def settlement_delivery(self, settled: np.ndarray) -> np.ndarray:
        """Index into settlement_deliveries of the delivery holding each settlement day."""
        batch_day = _next_month_first(settled)
        daily_day = np.maximum(settled + 1, day_number(self.daily_start))
        last_batch = day_number(self.batches[-1]) if self.batches else -1
        delivery_day = np.where(batch_day <= last_batch, batch_day, daily_day)
        return np.searchsorted([day_number(d) for d in self.settlement_deliveries], delivery_day)


class Landing:
    """The landing folder: one open file per delivery, rows counted as they are appended."""

    def __init__(self, root: Path, schedule: Schedule):
        self.root = Path(root)
        self.unready = {(RESIDENTS.name, schedule.unready_snapshot)}
        plan = (
            [(RESIDENTS, d) for d in [*schedule.snapshots, schedule.unready_snapshot]]
            + [(SETTLEMENTS, d) for d in schedule.settlement_deliveries]
            + [(PAYMENTS, d) for d in schedule.payment_deliveries]
            + [(AGRICULTURE, schedule.agriculture)]
            + [(s, schedule.departments) for s in (DISABILITY, VEHICLES, BUSINESSES, PROPERTY, ROLL, MONITORING)]
            + [(VISITS, d) for d in schedule.daily_exports]
        )
        self.files: dict[tuple[str, date], Any] = {}
        self.rows: Counter[tuple[str, date]] = Counter()
        self.bad_rows: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.bytes_written = 0
        for source, day in plan:
            self._file(source, day)

    def _file(self, source: Source, day: date) -> Any:
        """The delivery's open file; a delivery not in the plan (a day with visits) is
        opened by its first rows."""
        if (source.name, day) not in self.files:
            folder = self.root / source.name / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "_READY").unlink(missing_ok=True)
            handle = open(folder / source.file_name, "wb")  # noqa: SIM115 (one open file per delivery, closed in close())
            bom = "\ufeff".encode("utf-8") if source.bom else b""
            handle.write(bom + (source.header + "\n").encode(source.encoding))
            self.files[(source.name, day)] = handle
            self.rows[(source.name, day)] += 0  # a delivery with no rows is still a delivery
        return self.files[(source.name, day)]

    def append(
        self, source: Source, day: date, lines: pa.Array, rng: np.random.Generator, required: tuple[str, ...] = ()
    ) -> None:
        lines, bad = inject_defects(source.name, lines, source.encoding, rng, rate=BAD_ROW_RATE, required=required)
        self.bad_rows[source.name].update(bad)
        self.rows[(source.name, day)] += len(lines)
        with_newlines = pc.binary_join_element_wise(lines, pa.scalar(b"", pa.binary()), b"\n")
        offsets = np.frombuffer(with_newlines.buffers()[1], np.int32, len(with_newlines) + 1, with_newlines.offset * 4)
        data = memoryview(with_newlines.buffers()[2])[offsets[0] : offsets[-1]]
        self._file(source, day).write(data)
        self.bytes_written += len(data)

    def close(self, *, complete: bool) -> None:
        """Close every file; if all went well, mark each delivery ready (the department's
        last step). After a failure no folder is marked, so no reader takes a half file."""
        for handle in self.files.values():
            handle.close()
        for source, day in self.files if complete else ():
            if (source, day) not in self.unready:
                (self.root / source / day.isoformat() / "_READY").touch()


# ---- vectorised text --------------------------------------------------------------


def _fixed_width(chars: np.ndarray) -> pa.Array:
    """(n, w) ASCII bytes -> binary array of n values, without a copy per value."""
    chars = np.ascontiguousarray(chars, np.uint8)
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _digits(values: np.ndarray, width: int, prefix: bytes = b"") -> pa.Array:
    """Zero-padded decimal numbers with a fixed prefix ("3714" + 8 digits)."""
    chars = np.empty((len(values), len(prefix) + width), np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
    chars[:, len(prefix) :] = digit_matrix(values, width)
    return _fixed_width(chars)


def _yuan(cents: np.ndarray) -> pa.Array:
    """Non-negative cents as yuan with two decimals ("0.05", "4523.17"): right-aligned
    fixed-width text, then the leading zeros are squeezed out of the buffer."""
    cents = np.asarray(cents, np.int64)
    width = max(len(str(int(cents.max()))) if len(cents) else 3, 3)
    digits = digit_matrix(cents, width)
    chars = np.empty((len(cents), width + 1), np.uint8)
    chars[:, : width - 2] = digits[:, : width - 2]
    chars[:, width - 2] = ord(".")
    chars[:, width - 1 :] = digits[:, width - 2 :]
    length = np.maximum(np.searchsorted(10 ** np.arange(1, 18), cents, side="right") + 1, 3) + 1
    keep = np.arange(width + 1)[None, :] >= (width + 1 - length)[:, None]
    offsets = np.r_[0, np.cumsum(length)].astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(cents), [None, pa.py_buffer(offsets), pa.py_buffer(chars[keep])])


def _lookup(table: list[bytes], index: np.ndarray) -> pa.Array:
    return pa.array(table, pa.binary()).take(pa.array(np.asarray(index, np.int32)))


def _dates(days: np.ndarray, fmt: str) -> pa.Array:
    """Day numbers as text; NO_DATE as an empty field."""
    days = np.asarray(days, np.int64)
    real = days[days != NO_DATE]
    if len(real) == 0:
        return _lookup([b""], np.zeros(len(days), np.int32))
    low, high = int(real.min()), int(real.max())
    table = [(EPOCH + timedelta(d)).strftime(fmt).encode() for d in range(low, high + 1)] + [b""]
    return _lookup(table, np.where(days != NO_DATE, days - low, high - low + 1))


def _join(*columns) -> pa.Array:
    return pc.binary_join_element_wise(*columns, b",")


def _scrambled_ids(keys: np.ndarray, prefix: bytes) -> pa.Array:
    """Unique 12-digit ids that do not read as a counter: a bijection of Z/10^12."""
    keys = np.asarray(keys, np.int64)
    if len(keys) and keys.max() >= 10**12:
        raise ValueError("too many records for 12-digit ids")
    return _digits(keys * 7_654_321 % 10**12, 12, prefix)


NAME_TABLE = [c.encode("gb18030") for c in NAME_CHARS] + [b""]


# ---- one chunk of households --------------------------------------------------------


def _person_ids(people: People, index=slice(None)) -> pa.Array:
    return _fixed_width(people.id_chars[index])


def write_residents(
    landing: Landing, city: City, people: People, schedule: Schedule, rng: np.random.Generator, first_chunk: bool
) -> None:
    """The same people in every snapshot; only births and status changes differ."""
    urban = city.urban[people.household]
    parts = np.where(people.name_parts < 0, len(NAME_TABLE) - 1, people.name_parts)
    name = pc.binary_join_element_wise(*(_lookup(NAME_TABLE, parts[:, k]) for k in range(3)), b"")
    identity = _join(
        _person_ids(people),
        name,
        _lookup([b"1", b"2"], ~people.male),
        _dates(people.birth, "%Y%m%d"),
        _digits(city.household_number[people.household], 8, b"3714"),
        _lookup([f"{i:02d}".encode() for i in range(100)], people.relation),
        _digits(city.region_code[people.household], 12),
        _lookup([b"1", b"2"], ~urban),
    )
    for snapshot in [*schedule.snapshots, schedule.unready_snapshot]:
        day = day_number(snapshot)
        rows = np.flatnonzero(people.in_registry & (people.birth <= day))
        changed = people.event_day[rows] <= day
        status = np.where(changed, people.event[rows], REGISTERED)
        status_day = np.where(status != REGISTERED, people.event_day[rows], NO_DATE)
        lines = _join(
            identity.take(pa.array(rows)), _lookup([b"", b"1", b"2", b"3"], status), _dates(status_day, "%Y%m%d")
        )
        landing.append(RESIDENTS, snapshot, lines, rng, KINDS[RESIDENTS.name] if first_chunk else ())


def _spread(kinds: tuple[str, ...], sizes: list[int]) -> list[tuple[str, ...]]:
    """Deal every defect kind to some delivery big enough to hide it; where none is (a
    small city's daily visits), to the deliveries with the most rows not yet dealt."""
    eligible = [i for i, size in enumerate(sizes) if size >= 20]
    dealt: list[list[str]] = [[] for _ in sizes]
    room = list(sizes)
    for j, kind in enumerate(kinds if sizes else ()):
        i = eligible[j % len(eligible)] if eligible else int(np.argmax(room))
        dealt[i].append(kind)
        room[i] -= 1
    return [tuple(k) for k in dealt]


def write_settlements(
    landing: Landing,
    city: City,
    people: People,
    schedule: Schedule,
    rng: np.random.Generator,
    chunk: int,
    first_chunk: bool,
) -> int:
    """Settlements go to the delivery of their settlement date; about 1% come again in
    the next delivery, same settlement_id, corrected amounts."""
    s = draw_settlements(
        people, city.urban[people.household], schedule.settlement_first_day, schedule.settlement_last_day, rng
    )
    key = chunk * 10**9 + np.arange(len(s.person))
    delivery = schedule.settlement_delivery(s.settled)
    again = np.flatnonzero(
        (rng.random(len(key)) < SETTLEMENT_REDELIVERY_RATE) & (delivery < len(schedule.settlement_deliveries) - 1)
    )
    fixed = s.take(again)
    share = fixed.fund_cents / fixed.total_cents
    corrected = np.maximum(np.round(fixed.total_cents * rng.uniform(0.8, 1.2, len(again))), 500).astype(np.int64)
    fixed.total_cents = np.where(corrected == fixed.total_cents, corrected + 100, corrected)
    fixed.fund_cents = np.round(fixed.total_cents * share).astype(np.int64)
    s = Settlements(*(np.concatenate([getattr(s, f), getattr(fixed, f)]) for f in s.__dataclass_fields__))
    key, delivery = np.r_[key, key[again]], np.r_[delivery, delivery[again] + 1]

    order = np.argsort(delivery, kind="stable")
    bounds = np.searchsorted(delivery[order], np.arange(len(schedule.settlement_deliveries) + 1))
    sizes = np.diff(bounds).tolist()
    required = _spread(KINDS[SETTLEMENTS.name], sizes) if first_chunk else [()] * len(sizes)
    for i, day in enumerate(schedule.settlement_deliveries):
        rows = order[bounds[i] : bounds[i + 1]]
        part = s.take(rows)
        lines = _join(
            _scrambled_ids(key[rows], b"S"),
            _person_ids(people, part.person),
            _lookup([v.encode() for v in VISIT_TYPES], part.visit),
            _dates(part.admission, "%Y-%m-%d"),
            _dates(part.discharge, "%Y-%m-%d"),
            _lookup([c.encode() for c in DIAGNOSIS_CODES], part.diagnosis),
            _yuan(part.total_cents),
            _yuan(part.fund_cents),
            _yuan(part.total_cents - part.fund_cents),
            _dates(part.settled, "%Y-%m-%d"),
        )
        landing.append(SETTLEMENTS, day, lines, rng, required[i])
    return len(again)


def write_payments(
    landing: Landing,
    people: People,
    life: Livelihood,
    schedule: Schedule,
    rng: np.random.Generator,
    chunk: int,
    first_chunk: bool,
) -> int:
    """One delivery per period; about 0.5% of a period's records come again in the
    next period's delivery, same record_id, corrected amount."""
    periods = schedule.periods
    months, first_key = [], chunk * 10**9
    for m, period in enumerate(periods):
        raises = sum(1 for p in periods[1 : m + 1] if p.month == 7)  # bases and pensions re-set each July
        person, item, cents = period_payments(people, life, m, day_number(period), 1.03**raises)
        months.append((person, item, cents, first_key + np.arange(len(person)), np.full(len(person), m)))
        first_key += len(person)
    corrections = []
    for person, item, cents, key, month_index in months[:-1]:
        again = np.flatnonzero(rng.random(len(person)) < PAYMENT_REDELIVERY_RATE)
        corrected = np.round(cents[again] * rng.uniform(0.9, 1.1, len(again))).astype(np.int64)
        corrected = np.where(corrected == cents[again], corrected + 100, corrected)
        corrections.append((person[again], item[again], corrected, key[again], month_index[again]))
    required = _spread(KINDS[PAYMENTS.name], [len(m[0]) for m in months]) if first_chunk else [()] * len(months)
    period_text = [p.strftime("%Y%m").encode() for p in periods]
    for m, day in enumerate(schedule.payment_deliveries):
        rows = [months[m]] + ([corrections[m - 1]] if m else [])
        person, item, cents, key, month_index = (np.concatenate(column) for column in zip(*rows))
        lines = _join(
            _scrambled_ids(key, b"P"),
            _person_ids(people, person),
            _lookup(period_text, month_index),
            _lookup([i.encode() for i in ITEMS], item),
            _yuan(cents),
        )
        landing.append(PAYMENTS, day, lines, rng, required[m])
    return sum(len(c[0]) for c in corrections)


def write_departments(
    landing: Landing,
    city: City,
    people: People,
    life: Livelihood,
    schedule: Schedule,
    rng: np.random.Generator,
    chunk: int,
    first_chunk: bool,
) -> Counter[str]:
    """The second wave's snapshots for one chunk of households, then civil affairs' own
    sources; returns what was drawn of the latter (roll households, planted exceptions,
    relapse statuses, visits by outcome)."""
    today = day_number(schedule.departments)
    works = life.works & (life.job_lost == NEVER)
    h = households_of(city, people, works, life.wage_base, life.pension, today)

    def append(source, day, lines) -> None:
        landing.append(source, day, lines, rng, KINDS[source.name] if first_chunk else ())

    household, item, hundredths = draw_holdings(h, rng)
    holdings = (household, item, hundredths)
    year = rng.integers(max(schedule.agriculture.year - 8, 2000), schedule.agriculture.year + 1, len(household))
    append(
        AGRICULTURE,
        schedule.agriculture,
        _join(
            _digits(city.household_number[h.first + household], 8, b"3714"),
            _lookup([i.encode() for i in FARM_ITEMS], item),
            _yuan(hundredths),
            _lookup([str(y).encode() for y in range(2000, schedule.agriculture.year + 1)], year - 2000),
        ),
    )
    person, kind, grade, since = draw_disability(people, h, today, rng)
    severe = np.zeros(len(people), bool)
    severe[person[grade <= 2]] = True
    append(
        DISABILITY,
        schedule.departments,
        _join(
            _person_ids(people, person),
            _lookup([t.encode() for t in DISABILITY_TYPES], kind),
            _lookup([b"", b"1", b"2", b"3", b"4"], grade),
            _dates(since, "%Y-%m-%d"),
        ),
    )
    owner, vehicle_class, registered, scrapped = draw_vehicles(people, h, today, rng)
    append(
        VEHICLES,
        schedule.departments,
        _join(
            _scrambled_ids(chunk * 10**9 + np.arange(len(owner)), b"V"),
            _person_ids(people, owner),
            _lookup([c.encode() for c in VEHICLE_CLASSES], vehicle_class),
            _dates(registered, "%Y-%m-%d"),
            _lookup([b"active", b"scrapped"], scrapped),
        ),
    )
    person, role, company, capital, status, codes = draw_businesses(people, h, chunk * 10**8, rng)
    append(
        BUSINESSES,
        schedule.departments,
        _join(
            _fixed_width(codes),
            _person_ids(people, person),
            _lookup([r.encode() for r in ROLES], role),
            _lookup([t.encode() for t in ENTERPRISE_TYPES], company),
            _yuan(capital),
            _lookup([s.encode() for s in BUSINESS_STATUSES], status),
        ),
    )
    owner, number, kind, area, cancelled = draw_property(people, h, rng)
    append(
        PROPERTY,
        schedule.departments,
        _join(
            _scrambled_ids(chunk * 10**9 + number, b"R"),
            _person_ids(people, owner),
            _lookup([t.encode() for t in PROPERTY_TYPES], kind),
            _yuan(area),
            _lookup([s.encode() for s in PROPERTY_STATUSES], cancelled),
        ),
    )
    return write_assistance(landing, city, people, life, h, holdings, severe, schedule, rng, chunk, first_chunk)


def write_assistance(
    landing: Landing,
    city: City,
    people: People,
    life: Livelihood,
    h: Household,
    holdings: tuple[np.ndarray, np.ndarray, np.ndarray],
    severe: np.ndarray,
    schedule: Schedule,
    rng: np.random.Generator,
    chunk: int,
    first_chunk: bool,
) -> Counter[str]:
    """The assistance roll and the relapse register (snapshots of the departments' date)
    and the day-by-day visit outcomes, for one chunk of households."""
    extract, run = day_number(schedule.departments), day_number(schedule.as_of)
    need = assess_need(people, h, life, holdings, severe, extract, run, len(schedule.periods))

    def household_ids(local: np.ndarray) -> pa.Array:
        return _digits(city.household_number[h.first + local], 8, b"3714")

    def codes(names: tuple[str, ...]) -> list[bytes]:
        return [name.encode() for name in names]

    drawn: Counter[str] = Counter()
    roll = draw_roll(people, h, need, extract, rng, plant_one=first_chunk)
    drawn.update({f"{ROLL.name}.{k}": v for k, v in roll.counts.items()})
    landing.append(
        ROLL,
        schedule.departments,
        _join(
            household_ids(roll.household),
            _person_ids(people, roll.person),
            _lookup(codes(PROGRAMMES), roll.programme),
            _dates(roll.approved, "%Y-%m-%d"),
            _lookup(codes(APPROVAL_MODES), roll.credit),
            _yuan(roll.declared),
            _yuan(roll.benefit),
        ),
        rng,
        KINDS[ROLL.name] if first_chunk else (),
    )
    household, status, since = draw_relapse(h, need, extract, rng)
    drawn.update({f"{MONITORING.name}.{s}": int((status == i).sum()) for i, s in enumerate(RELAPSE_STATUSES)})
    landing.append(
        MONITORING,
        schedule.departments,
        _join(household_ids(household), _lookup(codes(RELAPSE_STATUSES), status), _dates(since, "%Y-%m-%d")),
        rng,
        KINDS[MONITORING.name] if first_chunk else (),
    )
    visits = draw_visits(need, roll.programme_of, run, chunk * 10**9, rng, plant_one=first_chunk)
    drawn.update({f"{VISITS.name}.{k}": v for k, v in visits.counts.items()})
    drawn[f"{VISITS.name}.redelivered"] += visits.redelivered
    order = np.lexsort((visits.key, visits.day, visits.delivered))
    days, first = np.unique(visits.delivered[order], return_index=True)
    bounds = np.r_[first, len(order)]
    required = _spread(KINDS[VISITS.name], np.diff(bounds).tolist()) if first_chunk else [()] * len(days)
    for i, day in enumerate(days):
        rows = order[bounds[i] : bounds[i + 1]]
        lines = _join(
            _scrambled_ids(visits.key[rows], b"C"),
            household_ids(visits.household[rows]),
            _dates(visits.day[rows], "%Y-%m-%d"),
            _lookup(codes(OUTCOMES), visits.outcome[rows]),
            _lookup(codes(DECIDED), visits.decided[rows]),
        )
        landing.append(VISITS, EPOCH + timedelta(int(day)), lines, rng, required[i])
    return drawn


def generate_landing(out_dir: Path, households: int, *, seed: int = 7, as_of: date = date(2026, 11, 28)) -> dict:
    """Write a landing folder of synthetic deliveries for `households` households.

    The same seed writes the same bytes. Returns a summary: households, persons (rows of
    the snapshot at as_of), rows per source and delivery (bad rows included), bad rows
    per source and kind (as a reader must quarantine them), re-delivered keys per source,
    the delivery left without _READY, bytes written, and what civil affairs' sources hold
    as drawn, before bad rows replace a few of their rows: roll households by programme
    and approval, the planted exceptions a re-review must find on the run date (listed
    persons deceased or moved out, listed in another household, households with nobody
    registered left), relapse statuses, and visits by their first outcome."""
    if households < 1:
        raise ValueError("households must be at least 1")
    schedule = Schedule(as_of)
    city = build_city(households, np.random.default_rng([seed, 0]), as_of)
    landing = Landing(Path(out_dir), schedule)
    redelivered: Counter[str] = Counter()
    drawn: Counter[str] = Counter()
    try:
        for chunk, start in enumerate(range(0, households, CHUNK_HOUSEHOLDS)):
            first, stop = city.person_range(start, min(start + CHUNK_HOUSEHOLDS, households))
            people = city.people.slice(first, stop)
            rng = np.random.default_rng([seed, 1, chunk])
            write_residents(landing, city, people, schedule, rng, chunk == 0)
            redelivered[SETTLEMENTS.name] += write_settlements(landing, city, people, schedule, rng, chunk, chunk == 0)
            life = draw_livelihood(
                people, city.urban[people.household], day_number(schedule.as_of), len(schedule.periods), rng
            )
            redelivered[PAYMENTS.name] += write_payments(landing, people, life, schedule, rng, chunk, chunk == 0)
            drawn.update(write_departments(landing, city, people, life, schedule, rng, chunk, chunk == 0))
    except BaseException:
        landing.close(complete=False)
        raise
    landing.close(complete=True)
    redelivered[VISITS.name] += drawn.pop(f"{VISITS.name}.redelivered", 0)
    return _summary(city, schedule, landing, redelivered, drawn)


def _summary(city: City, schedule: Schedule, landing: Landing, redelivered: Counter, drawn: Counter) -> dict:
    p = city.people
    today = day_number(schedule.as_of)
    in_snapshot = p.in_registry & (p.birth <= today)
    rows: dict = defaultdict(dict)
    for (source, day), count in landing.rows.items():
        rows[source][day.isoformat()] = count
    return {
        "households": len(city.household_number),
        "persons": int(in_snapshot.sum()),
        "registered_persons": int((in_snapshot & ~((p.event != REGISTERED) & (p.event_day <= today))).sum()),
        "orphan_persons": int((~p.in_registry).sum()),
        "rows": dict(rows),
        "rows_total": {source: sum(r.values()) for source, r in rows.items()},
        "bad_rows": {source: dict(sorted(c.items())) for source, c in landing.bad_rows.items()},
        "redelivered": dict(redelivered),
        **{
            source.name: {
                k.split(".", 1)[1]: int(v) for k, v in sorted(drawn.items()) if k.startswith(source.name + ".")
            }
            for source in (ROLL, MONITORING, VISITS)
        },
        "not_ready": [f"{source}/{day.isoformat()}" for source, day in sorted(landing.unready)],
        "bytes_written": landing.bytes_written,
    }
