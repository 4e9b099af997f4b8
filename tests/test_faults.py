"""Faults in the middle of a night, on the small hand-written city: the process killed
while landing and while pushing, and the lake's disk filling up. Each ends with a clear
message, nothing half published, nothing lost, nothing pushed twice, and a rerun equal to
an uninterrupted night. (A kill while publishing the snapshot is test_publishing's; the
push receiver down is test_monitoring_nights'.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from pipelines import snapshot
from pipelines.ingest.land import SourceLanding
from pipelines.run.logs import failure_line
from tests.conftest import SAMPLE_DATE, SAMPLE_KEY, lake_contents, lipmon_run, night_in_process

pytestmark = pytest.mark.system

KEY = SAMPLE_KEY
D = SAMPLE_DATE
# small_city's deliveries dated on or before D, by source.
DELIVERIES = {"residents": 2, "medical_settlements": 2, "social_security": 2}


@pytest.fixture(scope="module")
def city(small_city_night) -> tuple[Path, dict[str, list[str]]]:
    """The landing folder and what an uninterrupted night of it publishes."""
    landing, lake = small_city_night
    return landing, lake_contents(lake)


def _bronze_partitions(lake: Path) -> list[Path]:
    return sorted(lake.glob("bronze/*/extract_date=*"))


def _published_whole(lake: Path) -> None:
    """Every published partition is whole: a bronze partition carries the record of its
    delivery (written into it before the swap) and holds exactly the rows it records."""
    for part in _bronze_partitions(lake):
        record = json.loads((part / "_delivery.json").read_text())
        assert len(pd.read_parquet(part)) == record["rows_kept"], part
        quarantine = lake / "quarantine" / part.parent.name / part.name
        bad = len(pd.read_parquet(quarantine)) if quarantine.exists() else 0
        assert bad == record["rows_quarantined"], part
        assert record["rows_read"] == record["rows_kept"] + record["rows_quarantined"], part
    assert not (lake / f"runs/{D}/_SUCCESS").exists()


def _ledger_keys(lake: Path) -> list[str]:
    return [
        json.loads(line)["idempotency_key"]
        for path in sorted((lake / "restricted/push_ledger").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_night_killed_while_landing_publishes_whole_deliveries_and_its_rerun_equals_a_whole_night(city, tmp_path):
    landing, whole = city
    lake = tmp_path / "lake"
    code, output = lipmon_run(lake, landing, KEY, kill_at="ingest:after-a-delivery")
    assert code == -signal.SIGKILL, output[-2000:]
    # Killed right after the first delivery was published: it is whole, nothing else is.
    [landed] = _bronze_partitions(lake)
    assert landed.parent.name == "residents"
    _published_whole(lake)
    assert not (lake / "gold").exists()
    assert any((lake / "_staging").iterdir())  # the killed run's staging, never published

    record = night_in_process(lake, landing, KEY)
    assert [(d["source"], d["status"]) for d in record["ingest"]["deliveries"]].count(("residents", "skipped")) == 1
    assert sum(d["status"] == "landed" for d in record["ingest"]["deliveries"]) == sum(DELIVERIES.values()) - 1
    assert lake_contents(lake) == whole
    assert not any((lake / "_staging").iterdir())  # the rerun removed what the killed run left
    assert (lake / f"runs/{D}/_SUCCESS").exists()


def test_a_night_killed_while_pushing_sends_nothing_twice_and_its_rerun_equals_a_whole_night(city, tmp_path):
    landing, whole = city
    lake = tmp_path / "lake"
    code, output = lipmon_run(lake, landing, KEY, kill_at="push:before-ledger")
    assert code == -signal.SIGKILL, output[-2000:]
    # The outbox accepted the first batch; the ledger never heard of it; the night is not complete.
    sent = lake_contents(lake)["outbox"]
    assert len(sent) > 0 and _ledger_keys(lake) == []
    assert not (lake / f"runs/{D}/_SUCCESS").exists()

    record = night_in_process(lake, landing, KEY)
    after = lake_contents(lake)
    assert after == whole  # every message once, none lost, none twice
    keys = [json.loads(line)["idempotency_key"] for line in after["outbox"]]
    assert max(Counter(keys).values()) == 1
    assert sorted(_ledger_keys(lake)) == sorted(keys)
    assert record["push"]["already_delivered"] == 0 and sum(record["push"]["delivered"].values()) == len(keys)


def _mount_small_disk(folder: Path, size: str) -> None:
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {done.stderr.strip()}")


def _fill_before(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, disk: Path) -> None:
    """Fill `disk` to its last byte just before `owner.name` runs, so that the writes it
    makes are the ones that find the disk full."""
    real = getattr(owner, name)

    def filling(*args, **kwargs):
        stat = os.statvfs(disk)
        free = stat.f_bavail * stat.f_frsize
        with contextlib.suppress(OSError), open(disk / "ballast", "ab") as out:
            out.write(bytes(free))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, filling)


def _night_on_a_full_disk(lake: Path, landing: Path) -> str:
    with pytest.raises(Exception) as caught:
        night_in_process(lake, landing, KEY)
    return failure_line("run", caught.value, lake)


def test_a_full_disk_while_staging_stops_the_night_clearly_and_a_rerun_on_more_space_completes_it(
    city, tmp_path, monkeypatch
):
    landing, whole = city
    disk = tmp_path / "disk"
    _mount_small_disk(disk, "64m")
    lake = disk / "lake"
    clear = (
        f"lipmon run: the disk is full (No space left on device) under {lake}; nothing was half "
        "published (what was being written stays unpublished): free space and run again"
    )
    try:
        # Full while the first source's rows are staged: nothing of the night is published.
        with monkeypatch.context() as mp:
            _fill_before(mp, SourceLanding, "_write_staged", disk)
            assert _night_on_a_full_disk(lake, landing) == clear
        assert _bronze_partitions(lake) == [] and not (lake / "gold").exists()
        (disk / "ballast").unlink()

        # Full while the snapshot's tables are staged: every delivery is landed whole, no
        # snapshot table is published.
        with monkeypatch.context() as mp:
            _fill_before(mp, snapshot, "_write", disk)
            assert _night_on_a_full_disk(lake, landing) == clear
        assert len(_bronze_partitions(lake)) == sum(DELIVERIES.values())
        _published_whole(lake)
        assert not (lake / "gold").exists() and not (lake / "restricted/alerts").exists()
        (disk / "ballast").unlink()

        night_in_process(lake, landing, KEY)
        assert lake_contents(lake) == whole
        assert not any((lake / "_staging").iterdir())
    finally:
        shutil.rmtree(lake, ignore_errors=True)
        subprocess.run(["umount", "-l", str(disk)], check=False)
