"""Dynamic monitoring through the real nightly flow on a small city whose alerts change
(tests/deliveries.changing_city): three consecutive nights, a missed night, the backfill of
the missed night and a rerun. Every status, first_seen_date, days in alert and resolution
is checked against the hand-computed expectation below, and every NEW or ESCALATED alert
reaches the outbox exactly once. A webhook that is down fails the night with its data
published and its messages queued; the next night sends them.

Hand-computed (see changing_city's indexes): T is the top index (35.0) until L1's inpatient
stay (45.516, settled 11-22, delivered 11-23) takes the single TOP_INDEX place; L2's
income is corrected above 2 x 814 on 11-23, N's on 11-24. 11-24 is missed, then backfilled."""

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
from pipelines.published import read_published
from pipelines.run.params import BackfillParameters, RunParameters
from tests.deliveries import changing_city
from tests.http_receiver import Receiver

KEY = "monitoring-test-key"
D1, D2, D3, D4, D5 = (date(2026, 11, d) for d in (21, 22, 23, 24, 25))
TOP, LOW = "TOP_INDEX", "LOW_INCOME"

# Per date: household -> (status, rules, first_seen_date, days_in_alert).
ALERTS = {
    D1: {"T": ("NEW", [TOP], D1, 1), "L1": ("NEW", [LOW], D1, 1), "L2": ("NEW", [LOW], D1, 1)},
    D2: {
        "T": ("ONGOING", [TOP], D1, 2),
        "L1": ("ONGOING", [LOW], D1, 2),
        "L2": ("ONGOING", [LOW], D1, 2),
        "N": ("NEW", [LOW], D2, 1),
    },
    D3: {"L1": ("ESCALATED", [TOP, LOW], D1, 3), "N": ("ONGOING", [LOW], D2, 2)},
    D4: {"L1": ("ONGOING", [TOP, LOW], D1, 4)},
    D5: {"L1": ("ONGOING", [TOP, LOW], D1, 5)},  # against 11-23 before the backfill, 11-24 after: the same
}
# Per date: household -> (last_rules, first_seen_date, last_alert_date, days_in_alert).
RESOLUTIONS = {
    D1: {},
    D2: {},
    D3: {"T": ([TOP], D1, D2, 2), "L2": ([LOW], D1, D2, 2)},
    D4: {"N": ([LOW], D2, D3, 2)},
}
RESOLVED_ON_D5_BEFORE_BACKFILL = {"N": ([LOW], D2, D3, 2)}  # 11-24 missed: compared with 11-23
RESOLVED_ON_D5_AFTER_BACKFILL = {}  # N left on 11-24 already


def household_key(household_id: str) -> str:
    return hmac.new(KEY.encode(), household_id.encode(), hashlib.sha256).hexdigest()


def message_key(household_id: str, day: date, rules: list[str]) -> str:
    text = f"lipmon-alert:v1|{household_key(household_id)}|{day.isoformat()}|{','.join(sorted(rules))}"
    return hashlib.sha256(text.encode()).hexdigest()


PUSHED = {  # the outbox keys each run adds
    D1: {message_key("T", D1, [TOP]), message_key("L1", D1, [LOW]), message_key("L2", D1, [LOW])},
    D2: {message_key("N", D2, [LOW])},
    D3: {message_key("L1", D3, [TOP, LOW])},
}
NAMES = {household_key(h): h for h in ("R1", "R2", "T", "L1", "L2", "N")}


def _records(path: Path) -> list[dict]:
    df = pd.read_parquet(path)
    df = df.map(lambda v: list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v)
    return df.to_dict("records")


def alerts(lake: Path, day: date) -> dict[str, tuple]:
    return {
        NAMES[r["household_key"]]: (r["status"], r["rules"], r["first_seen_date"], r["days_in_alert"])
        for r in _records(lake / f"gold/alerts/snapshot_date={day}")
    }


def resolutions(lake: Path, day: date) -> dict[str, tuple]:
    rows = _records(lake / f"gold/alert_resolutions/snapshot_date={day}")
    assert all(r["status"] == "RESOLVED" for r in rows)
    return {
        NAMES[r["household_key"]]: (r["last_rules"], r["first_seen_date"], r["last_alert_date"], r["days_in_alert"])
        for r in rows
    }


def manifest_outputs(lake: Path, day: date) -> dict[str, dict]:
    manifest = json.loads((lake / f"runs/{day}/manifest.json").read_text())
    return {entry["table"]: entry for entry in manifest["outputs"]}


def outbox(lake: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((lake / "restricted/outbox").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def nights(prefect_server, tmp_path_factory):
    """Runs every night once; returns the lake, the flow records and what was seen along the way."""
    from flows import backfill, nightly

    base = tmp_path_factory.mktemp("nights")
    landing, lake = base / "landing", base / "lake"
    ids = changing_city(landing)
    where = {"landing": str(landing), "lake": str(lake)}
    seen: dict = {"outbox": {}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, KEY)
        records = {}
        for day in (D1, D2, D3):
            records[day] = nightly(RunParameters(snapshot_date=day, **where))
            seen["outbox"][day] = {m["idempotency_key"] for m in outbox(lake)}
        records[D5] = nightly(RunParameters(snapshot_date=D5, **where))  # 11-24 missed
        seen["outbox"][D5] = {m["idempotency_key"] for m in outbox(lake)}
        seen["d5_before"] = (alerts(lake, D5), resolutions(lake, D5))
        seen["d5_snapshot_before"] = json.loads((lake / f"runs/{D5}/snapshot.json").read_text())
        seen["d5_outputs_before"] = manifest_outputs(lake, D5)
        records["backfill"] = backfill(BackfillParameters(start=D4, end=D4, **where))[0]
        seen["outbox"]["backfill"] = {m["idempotency_key"] for m in outbox(lake)}
        records["rerun"] = nightly(RunParameters(snapshot_date=D3, **where))
    return lake, records, seen, ids


def test_three_nights_a_gap_and_its_backfill_give_the_hand_computed_lifecycle(nights):
    lake, records, seen, _ = nights
    for day in (D1, D2, D3, D4):
        assert alerts(lake, day) == ALERTS[day], day
        assert resolutions(lake, day) == RESOLUTIONS[day], day
    # The missed night: 11-25 compared with 11-23, the latest earlier run, not with nothing.
    assert seen["d5_before"] == (ALERTS[D5], RESOLVED_ON_D5_BEFORE_BACKFILL)
    assert seen["d5_snapshot_before"]["lifecycle_against"] == "2026-11-23"
    # Backfilling 11-24 re-derives the lifecycle of 11-25, which now compares with 11-24.
    assert (alerts(lake, D5), resolutions(lake, D5)) == (ALERTS[D5], RESOLVED_ON_D5_AFTER_BACKFILL)
    assert records["backfill"]["lifecycle"] == {"relinked": ["2026-11-25"]}
    relinked = json.loads((lake / f"runs/{D5}/snapshot.json").read_text())
    assert (relinked["lifecycle_against"], relinked["lifecycle_relinked_after"], relinked["resolved"]) == (
        "2026-11-24",
        "2026-11-24",
        0,
    )
    # Rerunning 11-23 changes nothing, so nothing after it is rewritten.
    assert alerts(lake, D3) == ALERTS[D3] and records["rerun"]["lifecycle"] == {"relinked": []}
    assert records[D3]["snapshot"]["alerts_by_status"] == {"ESCALATED": 1, "ONGOING": 1}
    assert records[D3]["snapshot"]["resolved"] == 2


def test_relinking_a_later_date_refreshes_the_files_its_manifest_lists(nights):
    lake, _, seen, _ = nights
    before, after = seen["d5_outputs_before"], manifest_outputs(lake, D5)
    for table in ("gold/alerts", "gold/alert_resolutions", "restricted/alerts"):
        in_folder = {p.name: p.stat().st_size for p in (lake / table / f"snapshot_date={D5}").glob("*.parquet")}
        assert {f["name"]: f["bytes"] for f in after[table]["files"]} == in_folder, table
        assert after[table]["files"] != before[table]["files"], table  # rewritten by the backfill's relink
    # N resolved on 11-25 against 11-23; after the backfill it resolved on 11-24 already.
    assert (before["gold/alert_resolutions"]["rows"], after["gold/alert_resolutions"]["rows"]) == (1, 0)
    assert after["gold/household_profile"] == before["gold/household_profile"]
    assert (lake / f"runs/{D5}/_SUCCESS").exists()
    assert {NAMES[k] for k in read_published(lake, "gold/alerts", D5)["household_key"]} == set(ALERTS[D5])


def test_each_new_or_escalated_alert_reaches_the_outbox_exactly_once(nights):
    lake, records, seen, _ = nights
    assert seen["outbox"][D1] == PUSHED[D1]
    assert seen["outbox"][D2] == PUSHED[D1] | PUSHED[D2]
    assert seen["outbox"][D3] == seen["outbox"][D5] == PUSHED[D1] | PUSHED[D2] | PUSHED[D3]
    assert seen["outbox"]["backfill"] == seen["outbox"][D5]  # a backfill without --push
    assert records["backfill"]["push"] == {"skipped": "push not requested (a backfill pushes only with --push)"}
    keys = Counter(m["idempotency_key"] for m in outbox(lake))
    assert keys == Counter(PUSHED[D1] | PUSHED[D2] | PUSHED[D3])  # once each, the rerun included
    assert (records["rerun"]["push"]["delivered"], records["rerun"]["push"]["already_delivered"]) == ({}, 1)
    assert records[D3]["push"]["delivered"] == {"2026-11-23": 1}
    ledger = [
        json.loads(line)
        for p in sorted((lake / "restricted/push_ledger").rglob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert Counter(e["idempotency_key"] for e in ledger) == keys
    assert all(
        set(e) == {"idempotency_key", "household_key", "snapshot_date", "status", "rules", "sink", "delivered_at"}
        for e in ledger
    )
    assert not (lake / "restricted/push_queue").exists() or not any((lake / "restricted/push_queue").iterdir())


def test_the_escalation_message_carries_what_a_caseworker_needs(nights):
    lake, _, _, ids = nights
    [message] = [m for m in outbox(lake) if m["snapshot_date"] == "2026-11-23"]
    index = round(100 * (0.40 * (1 - 1200 / 1628) + 0.20 + 0.10 + 0.05), 4)  # 45.516
    assert message == {
        "idempotency_key": message_key("L1", D3, [TOP, LOW]),
        "snapshot_date": "2026-11-23",
        "household_key": household_key("L1"),
        "household_id": "L1",
        "head_person_id": ids["L1"],
        "head_name": "冯甲",
        "head_registered": True,
        "status": "ESCALATED",
        "rules": [TOP, LOW],
        "first_seen_date": "2026-11-21",
        "hardship_index": index,
        "rank": 1,
        "scope_size": 6,
        "percentile": round(100 * 5 / 6, 4),
        "income": 1200.0,
        "per_capita_income": 1200.0,
        "dibao_standard": 814.0,
        "income_ratio": message["income_ratio"],
        "top_reasons": ["medical", "income", "illness"],
        "categories": ["MARGINAL", "RIGID_EXPENDITURE"],
        "region_code": "371402001001",
        "county_code": "371402",
        "township_code": "001",
        "village_code": "001",
        "residence_type": "1",
        "size": 1,
        # Shock 1 (the inpatient stay) but income_ratio 1.474 >= 1: not URGENT; MARGINAL: CARE.
        "urgency": "CARE",
        # No roll is delivered in this city: on no programme, so a discovery.
        "newly_found": True,
        "programme": None,
        # Aged 40 with wage contributions: only the stay (15000 >= 3 x 814) makes a group.
        "groups": ["SERIOUS_ILLNESS"],
        "exit_reasons": [],
        "asset_flags": [],
        "suppressed_until": None,
        "last_visit_date": None,
        "last_visit_outcome": None,
    }
    assert message["income_ratio"] == pytest.approx(1200 / 814)


def test_no_personal_data_in_the_gold_lifecycle_tables_or_the_ledger(nights):
    lake, _, _, ids = nights
    secrets = set(ids.values()) | {"冯甲", "陈乙", "郑老", "褚丙"}
    for path in [*(lake / "gold/alert_resolutions").glob("*/*.parquet"), *(lake / "gold/alerts").glob("*/*.parquet")]:
        text = json.dumps(_records(path), default=str, ensure_ascii=False)
        assert not any(s in text for s in secrets), path
    ledger = "".join(p.read_text() for p in (lake / "restricted/push_ledger").rglob("*.jsonl"))
    assert ledger and not any(s in ledger for s in secrets)


def test_a_night_whose_webhook_is_down_keeps_its_data_and_the_next_night_sends_its_messages(
    prefect_server, tmp_path, monkeypatch
):
    from flows import nightly

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    changing_city(landing)
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv("LIPMON_WEBHOOK_TOKEN", "caseworker-token")
    healthy = False
    with Receiver(lambda n: "ok" if healthy else 500) as receiver:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"push:\n  sink: webhook\n  webhook: {{url: '{receiver.url}', max_attempts: 2, "
            f"backoff_seconds: 0.01, backoff_max_seconds: 0.02, timeout_seconds: 5}}\n"
        )
        where = {"landing": str(landing), "lake": str(lake), "config": str(config)}
        with pytest.raises(Exception, match=r"3 message\(s\) of 2026-11-21 stay queued"):
            nightly(RunParameters(snapshot_date=D1, **where))
        manifest = json.loads((lake / f"runs/{D1}/manifest.json").read_text())
        assert (manifest["outcome"], manifest["failed_step"]) == ("failed", "push")
        assert "HTTP 500" in manifest["error"] and "caseworker-token" not in json.dumps(manifest)
        assert not (lake / f"runs/{D1}/_SUCCESS").exists()
        assert alerts(lake, D1) == ALERTS[D1]  # the data stays published
        assert len(receiver.requests) == 2 and receiver.messages == []
        healthy = True
        record = nightly(RunParameters(snapshot_date=D2, **where))
        assert alerts(lake, D2) == ALERTS[D2]  # compared with the failed-push night
        assert record["push"]["delivered"] == {"2026-11-21": 3, "2026-11-22": 1}
        assert (lake / f"runs/{D2}/_SUCCESS").exists()
    assert Counter(receiver.keys()) == Counter(PUSHED[D1] | PUSHED[D2])
    assert receiver.requests[-1]["headers"]["Authorization"] == "Bearer caseworker-token"
