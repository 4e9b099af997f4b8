"""Current recipients and the loop back from the field through the real nightly flow
(tests/deliveries.recipients_city, whose docstring computes every index by hand): a
recipient whose income rises is reviewed for exit, then leaves the roll and the alert
resolves; a not-eligible visit keeps a household that comes back from being pushed again,
until it escalates; a household that died leaves the registry and its roll rows become a
roll exception. Every NEW or ESCALATED alert that is not suppressed reaches the outbox
exactly once, across a rerun and a backfill."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.pseudonym import ENV_KEY
from pipelines.run.params import BackfillParameters, RunParameters
from tests.deliveries import recipients_city

KEY = "recipients-test-key"
D1, D2, D3, D4, D5 = (date(2026, 11, d) for d in (21, 22, 23, 24, 25))
TOP, LOW, EXIT = "TOP_INDEX", "LOW_INCOME", "EXIT_REVIEW"
SUPPRESSED_UNTIL = date(2027, 5, 20)  # the visit of 2026-11-21 + 180 days

# Per date: household -> (status, rules, suppressed_until).
ALERTS = {
    D1: {
        "T": ("NEW", [TOP, LOW], None),
        "E": ("NEW", [LOW], None),
        "V": ("NEW", [LOW], None),
        "G": ("NEW", [LOW], None),
    },
    D2: {
        "T": ("ONGOING", [TOP, LOW], None),
        "E": ("ESCALATED", [EXIT], None),  # income above dibao's line: a rule it did not meet
        "V": ("ONGOING", [LOW], SUPPRESSED_UNTIL),
        "G": ("ONGOING", [LOW], None),
    },
    D3: {"T": ("ONGOING", [TOP, LOW], None)},
    D4: {"T": ("ONGOING", [TOP, LOW], None), "V": ("NEW", [LOW], SUPPRESSED_UNTIL)},
    D5: {"T": ("ONGOING", [TOP, LOW], None), "V": ("ESCALATED", [LOW], SUPPRESSED_UNTIL)},  # a shock 0 -> 1
}
RESOLUTIONS = {D1: {}, D2: {}, D3: {"E": "no_rule_met", "V": "no_rule_met", "G": "left_registry"}, D4: {}, D5: {}}


def household_key(household_id: str) -> str:
    return hmac.new(KEY.encode(), household_id.encode(), hashlib.sha256).hexdigest()


def message_key(household_id: str, day: date, rules: list[str]) -> str:
    text = f"lipmon-alert:v1|{household_key(household_id)}|{day.isoformat()}|{','.join(sorted(rules))}"
    return hashlib.sha256(text.encode()).hexdigest()


PUSHED = {
    D1: {message_key(h, D1, r) for h, (_, r, _) in ALERTS[D1].items()},
    D2: {message_key("E", D2, [EXIT])},
    D3: set(),
    D4: set(),  # V is NEW, but a visit found it not eligible
    D5: {message_key("V", D5, [LOW])},  # escalated: pushed all the same
}
NAMES = {household_key(h): h for h in ("R1", "R2", "T", "E", "V", "G")}

pytestmark = pytest.mark.system


def _records(path: Path) -> list[dict]:
    df = pd.read_parquet(path)
    df = df.map(lambda v: list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v)
    return df.to_dict("records")


def _date(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def alerts(lake: Path, day: date) -> dict[str, tuple]:
    return {
        NAMES[r["household_key"]]: (r["status"], r["rules"], _date(r["suppressed_until"]))
        for r in _records(lake / f"gold/alerts/snapshot_date={day}")
    }


def outbox(lake: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((lake / "restricted/outbox").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.fixture(scope="module")
def nights(prefect_server, tmp_path_factory):
    from flows import backfill, nightly

    base = tmp_path_factory.mktemp("recipients")
    landing, lake = base / "landing", base / "lake"
    ids = recipients_city(landing)
    where = {"landing": str(landing), "lake": str(lake)}
    seen: dict = {"outbox": {}, "alerts": {}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, KEY)
        records = {}
        for day in (D1, D2, D3, D4, D5):
            records[day] = nightly(RunParameters(snapshot_date=day, **where))
            seen["outbox"][day] = Counter(m["idempotency_key"] for m in outbox(lake))
            seen["alerts"][day] = alerts(lake, day)
        records["rerun"] = nightly(RunParameters(snapshot_date=D5, **where))
        records["backfill"] = backfill(BackfillParameters(start=D4, end=D5, **where))
    return lake, records, seen, ids


def test_review_exit_resolution_and_suppression_night_by_night(nights):
    lake, records, seen, _ = nights
    for day in (D1, D2, D3, D4, D5):
        assert seen["alerts"][day] == ALERTS[day], day
        resolved = {
            NAMES[r["household_key"]]: r["resolution_reason"]
            for r in _records(lake / f"gold/alert_resolutions/snapshot_date={day}")
        }
        assert resolved == RESOLUTIONS[day], day
    # the backfill of 11-24 and 11-25 gives what their nights gave
    assert alerts(lake, D4) == ALERTS[D4] and alerts(lake, D5) == ALERTS[D5]
    e = {r["household_key"]: r for r in _records(lake / f"gold/alerts/snapshot_date={D2}")}[household_key("E")]
    assert (e["programme"], e["exit_reasons"], e["newly_found"], e["categories"]) == (
        "dibao",
        ["income_above_line"],
        False,
        [],
    )
    v = {r["household_key"]: r for r in _records(lake / f"gold/alerts/snapshot_date={D2}")}[household_key("V")]
    assert (v["last_visit_outcome"], _date(v["last_visit_date"]), v["newly_found"], v["urgency"]) == (
        "not_eligible",
        date(2026, 11, 21),
        True,
        "SAFETY_NET",
    )
    assert records[D4]["push"]["suppressed_today"] == 1
    assert records[D5]["push"]["suppressed_today"] == 0


def test_each_pushed_alert_reaches_the_outbox_exactly_once(nights):
    lake, records, seen, _ = nights
    expected: set[str] = set()
    for day in (D1, D2, D3, D4, D5):
        expected |= PUSHED[day]
        assert seen["outbox"][day] == Counter(expected), day
    assert Counter(m["idempotency_key"] for m in outbox(lake)) == Counter(expected)  # rerun and backfill added none
    assert records["rerun"]["push"]["delivered"] == {}
    message = next(m for m in outbox(lake) if m["idempotency_key"] == message_key("E", D2, [EXIT]))
    assert (message["status"], message["programme"], message["exit_reasons"], message["urgency"]) == (
        "ESCALATED",
        "dibao",
        ["income_above_line"],
        "WATCH",
    )
    shocked = next(m for m in outbox(lake) if m["idempotency_key"] == message_key("V", D5, [LOW]))
    assert (shocked["suppressed_until"], shocked["groups"]) == ("2027-05-20", ["SERIOUS_ILLNESS"])


def test_precision_counts_the_visits_after_an_alert_was_first_seen(nights):
    """V, first seen on D1 (11-21), was visited that day and found not eligible, a visit
    delivered on D2: from D2 LOW_INCOME's precision is 0 confirmed of 1 visit (V: one
    household, one person). On D1 the visit was not delivered yet; V's alert of D4 and D5
    was first seen on D4, after the visit (the backfill recomputed both)."""
    lake, *_ = nights
    for day, expected in ((D1, []), (D2, [(LOW, 1, 1, 0.0)]), (D4, []), (D5, [])):
        stats = pd.read_parquet(lake / f"gold/statistics/snapshot_date={day}")
        rows = stats[(stats["level"] == "city") & (stats["measure"] == "precision")]
        assert [(r.value, r.households, r.persons, r.share) for r in rows.itertuples()] == expected, day


def test_roll_exceptions_and_person_counts(nights):
    lake, records, _, ids = nights
    exceptions = _records(lake / f"restricted/roll_exceptions/snapshot_date={D3}")
    assert [(r["household_id"], r["person_id"], r["registry_status"], r["programme"]) for r in exceptions] == [
        ("G", ids["G"], "deceased", "dibao")
    ]
    assert _records(lake / f"restricted/roll_exceptions/snapshot_date={D1}") == []
    d3 = json.loads((lake / f"runs/{D3}/manifest.json").read_text())
    assert d3["snapshot"]["roll_exceptions"] == {
        "households": 1,
        "persons": 1,
        "rows": 1,
        "monthly_benefit": 814.0,
    }
    d1 = records[D1]["snapshot"]
    # D1: T (2 persons: DIBAO and TEKUN), E, V and G (1 each, DIBAO)
    assert (d1["persons"], d1["persons_by_category"]) == (5, {"DIBAO": 5, "TEKUN": 2})
    assert d1["persons_by_rule"] == {"LOW_INCOME": 5, "TOP_INDEX": 2}
    assert d1["newly_found"] == {"households": 2, "persons": 3}  # T and V
    assert d1["roll"]["households"] == 2 and d1["roll"]["persons"] == 2  # E and G
    assert records[D3]["snapshot"]["resolved_by_reason"] == {"left_registry": 1, "no_rule_met": 2}
