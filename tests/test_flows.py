"""The Prefect flows: typed parameters that fail fast, deployments with their schedules,
point-in-time backfills, idempotent reruns, staleness, and manifests, run with Prefect's
test harness against the real steps on a small hand-written city."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from pipelines.pseudonym import ENV_KEY
from pipelines.run.params import BackfillParameters, RunParameters, today
from tests.deliveries import small_city

D1, D2 = date(2026, 11, 27), date(2026, 11, 28)


@pytest.fixture(scope="module", autouse=True)
def harness(prefect_server):
    """The session's Prefect test server."""
    return prefect_server


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(ENV_KEY, "flow-test-key")


def outputs(lake: Path, day: date) -> dict[str, list[dict]]:
    tables = {
        "profile": f"gold/household_profile/snapshot_date={day}",
        "alerts": f"gold/alerts/snapshot_date={day}",
        "restricted": f"restricted/alerts/snapshot_date={day}",
    }
    out = {}
    for name, path in tables.items():
        df = pd.read_parquet(lake / path)
        df = df.map(lambda v: list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v)
        out[name] = sorted(df.astype(str).to_dict("records"), key=lambda r: r["household_key"])
    return out


def test_parameters_fail_fast():
    with pytest.raises(ValidationError, match="before start"):
        BackfillParameters(start=D2, end=D1)
    with pytest.raises(ValidationError, match="in the future"):
        RunParameters(snapshot_date=today() + timedelta(days=1))
    with pytest.raises(ValidationError):
        RunParameters(snapshot_date="2026-02-30")


def test_deployments_carry_their_schedules():
    from flows import deployments

    nightly, backfill = deployments(lake="/data/lake")
    assert (nightly.name, backfill.name) == ("nightly", "backfill")
    [schedule] = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
    assert nightly.parameters["lake"] == "/data/lake"
    assert not backfill.schedules


@pytest.mark.system
def test_backfill_reproduces_each_nightly_run_even_with_later_deliveries_landed(tmp_path):
    from flows import backfill, nightly
    from pipelines.cli import main

    landing = tmp_path / "landing"
    small_city(landing)
    nightly_lake, backfill_lake = tmp_path / "nightly", tmp_path / "backfill"
    for day in (D1, D2):
        nightly(RunParameters(snapshot_date=day, landing=str(landing), lake=str(nightly_lake)))
    # The backfill lake has everything landed already, including the delivery after D2.
    assert main(["ingest", "--date", "2026-11-30", "--landing", str(landing), "--lake", str(backfill_lake)]) == 0
    backfill(BackfillParameters(start=D1, end=D2, landing=str(landing), lake=str(backfill_lake)))
    for day in (D1, D2):
        assert outputs(backfill_lake, day) == outputs(nightly_lake, day)
    # The re-delivered settlement counts with its new amount (6000, not 4000); the one
    # delivered after D2 (19000) does not count.
    profile = pd.read_parquet(nightly_lake / f"gold/household_profile/snapshot_date={D2}")
    assert sorted(profile["oop_12m"]) == [100.0, 200.0, 6000.0]

    # Running the same date again changes nothing: same rows, same manifest counts.
    before = json.loads((nightly_lake / f"runs/{D2}/manifest.json").read_text())
    nightly(RunParameters(snapshot_date=D2, landing=str(landing), lake=str(nightly_lake)))
    after = json.loads((nightly_lake / f"runs/{D2}/manifest.json").read_text())
    assert outputs(nightly_lake, D2) == outputs(backfill_lake, D2)
    assert after["snapshot"] == before["snapshot"] and after["outcome"] == "succeeded"
    assert (nightly_lake / f"runs/{D2}/_SUCCESS").exists()


@pytest.mark.system
def test_stale_source_within_its_limit_is_recorded_beyond_it_fails_with_a_manifest(tmp_path):
    from flows import nightly

    landing = tmp_path / "landing"
    small_city(landing)
    lake = tmp_path / "lake"
    # 2026-11-28: settlements last delivered 11-26 (2 days, the limit): proceeds, recorded.
    record = nightly(RunParameters(snapshot_date=D2, landing=str(landing), lake=str(lake)))
    assert record["freshness"]["medical_settlements"] == {
        "last_delivery": "2026-11-26",
        "staleness_days": 2,
        "limit_days": 2,
    }
    profile = pd.read_parquet(lake / f"gold/household_profile/snapshot_date={D2}")
    assert dict(profile["data_as_of"].iloc[0])["medical_settlements"] == date(2026, 11, 26)
    # 2026-11-29: three days old, beyond the limit (the 11-30 delivery is not visible yet).
    with pytest.raises(Exception, match="medical_settlements: last delivery 2026-11-26 is 3 days old"):
        nightly(RunParameters(snapshot_date=date(2026, 11, 29), landing=str(landing), lake=str(lake)))
    manifest = json.loads((lake / "runs/2026-11-29/manifest.json").read_text())
    assert (manifest["outcome"], manifest["failed_step"]) == ("failed", "quality_gate")
    assert "medical_settlements" in manifest["error"]
    assert not (lake / "runs/2026-11-29/_SUCCESS").exists()
    assert not (lake / "gold/household_profile/snapshot_date=2026-11-29").exists()


@pytest.mark.system
def test_a_late_delivery_names_the_dates_to_backfill(tmp_path):
    from flows import nightly
    from tests.deliveries import payments_csv, write_delivery

    landing = tmp_path / "landing"
    ids = small_city(landing)
    lake = tmp_path / "lake"
    first = nightly(RunParameters(snapshot_date=D1, landing=str(landing), lake=str(lake)))
    assert first["ingest"]["backfill_from"] is None
    # Human resources re-delivers a correction dated before the night already computed.
    write_delivery(
        landing,
        "social_security",
        "2026-11-26",
        {"payments.csv": payments_csv([f"P2026105,{ids['wife']},202610,wage_contribution,2000"])},
    )
    second = nightly(RunParameters(snapshot_date=D2, landing=str(landing), lake=str(lake)))
    assert second["ingest"]["backfill_from"] == D1.isoformat()
    manifest = json.loads((lake / f"runs/{D2}/manifest.json").read_text())
    assert manifest["ingest"]["backfill_from"] == D1.isoformat()
