"""Key continuity: a night whose pseudonym key differs from the latest published run's is
refused before any work; a deliberate rotation carries the alert lifecycle across (the
same statuses and first_seen_dates, no re-push, no invented resolution) and is recorded
in the manifest. Real nights of the flow on the small hand-written city."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.pseudonym import ENV_KEY, fingerprint
from pipelines.run.params import RunParameters
from pipelines.run.steps import PseudonymKeyChanged
from tests.deliveries import small_city

pytestmark = pytest.mark.system

D1, D2 = date(2026, 11, 27), date(2026, 11, 28)
OLD, NEW = "the-key-of-last-night", "a-new-key-on-purpose"


def _alerts(lake: Path, day: date) -> pd.DataFrame:
    restricted = pd.read_parquet(lake / f"restricted/alerts/snapshot_date={day}")
    return restricted.set_index("household_id").sort_index()


def _outbox(lake: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((lake / "restricted/outbox").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _key(secret: str, household_id: str) -> str:
    return hmac.new(secret.encode(), household_id.encode(), hashlib.sha256).hexdigest()


def test_a_changed_key_is_refused_and_a_rotation_carries_the_lifecycle(tmp_path, monkeypatch, prefect_server):
    from pipelines.run.flows import nightly

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    small_city(landing)
    where = {"landing": str(landing), "lake": str(lake)}
    monkeypatch.setenv(ENV_KEY, OLD)
    nightly(RunParameters(snapshot_date=D1, **where))
    first, pushed_first = _alerts(lake, D1), _outbox(lake)
    assert len(first) > 0 and set(first["status"]) == {"NEW"} and len(pushed_first) == len(first)

    # A mistyped secret: refused before any work; the date is left as it was (no manifest).
    monkeypatch.setenv(ENV_KEY, NEW)
    with pytest.raises(
        PseudonymKeyChanged,
        match=rf"fingerprint {fingerprint(NEW.encode())}\) is not the one the "
        rf"latest published run used \({fingerprint(OLD.encode())}, on {D1}\)",
    ):
        nightly(RunParameters(snapshot_date=D2, **where))
    assert not (lake / f"runs/{D2}").exists() and not (lake / f"gold/alerts/snapshot_date={D2}").exists()
    assert (lake / f"runs/{D1}/_SUCCESS").exists()

    # The same new key, rotated on purpose.
    record = nightly(RunParameters(snapshot_date=D2, rotate_pseudonym_key=True, **where))
    second = _alerts(lake, D2)
    assert record["configuration"]["pseudonym_key_rotation"] == {
        "from": fingerprint(OLD.encode()),
        "to": fingerprint(NEW.encode()),
        "latest_published_run": D1.isoformat(),
    }
    manifest = json.loads((lake / f"runs/{D2}/manifest.json").read_text())
    assert manifest["configuration"]["pseudonym_key_rotation"]["to"] == fingerprint(NEW.encode())
    # household_key changed on D2: the new key's HMAC of the household number.
    assert all(second.loc[h, "household_key"] == _key(NEW, h) for h in second.index)
    assert all(first.loc[h, "household_key"] == _key(OLD, h) for h in first.index)
    gold = pd.read_parquet(lake / f"gold/alerts/snapshot_date={D2}").set_index("household_key")
    for household in second.index.intersection(first.index):
        expected = (
            "ESCALATED" if set(second.loc[household, "rules"]) - set(first.loc[household, "rules"]) else "ONGOING"
        )
        row = gold.loc[_key(NEW, household)]
        assert (row["status"], row["first_seen_date"]) == (expected, D1), household
    resolved = pd.read_parquet(lake / f"gold/alert_resolutions/snapshot_date={D2}")
    assert sorted(resolved["household_key"]) == sorted(_key(NEW, h) for h in first.index.difference(second.index))
    # Nothing re-pushed: only what is NEW or ESCALATED on D2 reached the outbox.
    pushed_now = [m for m in _outbox(lake) if m["snapshot_date"] == D2.isoformat()]
    expected_push = {h for h in second.index if gold.loc[_key(NEW, h), "status"] in ("NEW", "ESCALATED")}
    assert {m["household_id"] for m in pushed_now} == expected_push
