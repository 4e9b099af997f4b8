"""One writer per lake: the lease names its holder, stops a second writer at once, is
re-entrant within a process, is renewed, and is taken over when its holder is gone. Two
real `lipmon ingest` commands started together on one lake: exactly one runs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.lease import LEASE_FILE, LakeBusy, LakeLease, read_holder, why_stale
from tests.deliveries import resident_id, residents_csv, write_delivery

REGISTERED = f"{resident_id('371402', '19800101', 11)},张三,1,19800101,H1,01,371402001001,1,1,"


def _lease_file(lake: Path, *, host: str, pid: int, renewed: datetime) -> None:
    lake.mkdir(parents=True, exist_ok=True)
    stamp = renewed.isoformat(timespec="seconds")
    holder = {
        "command": "run",
        "date": "2026-11-28",
        "host": host,
        "pid": pid,
        "started": stamp,
        "renewed": stamp,
        "token": "theirs",
    }
    (lake / LEASE_FILE).write_text(json.dumps(holder))


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_second_writer_is_refused_with_the_holder_named_and_the_lease_goes_with_the_first(tmp_path):
    with LakeLease(tmp_path, command="run", date="2026-11-28", timeout=60) as lease:
        holder = read_holder(tmp_path / LEASE_FILE)
        assert holder is not None and holder.token == lease.holder.token
        assert (holder.command, holder.date, holder.host, holder.pid) == (
            "run",
            "2026-11-28",
            platform.node(),
            os.getpid(),
        )
        other = LakeLease(tmp_path, command="ingest", date="2026-11-29", timeout=60)
        expected = rf"held by `lipmon run` for 2026-11-28 on host {platform.node()} \(process {os.getpid()}\)"
        with pytest.raises(LakeBusy, match=expected):
            other._acquire()  # what another process does (within this one the lease is re-entrant)
    assert not (tmp_path / LEASE_FILE).exists()
    with LakeLease(tmp_path, command="ingest", date="2026-11-29", timeout=60):
        assert read_holder(tmp_path / LEASE_FILE).command == "ingest"


def test_the_lease_is_reentrant_within_a_process(tmp_path):
    with LakeLease(tmp_path, command="backfill", date="a..b", timeout=60) as outer:
        with LakeLease(tmp_path, command="run", date="a", timeout=60) as inner:
            assert inner is outer and read_holder(tmp_path / LEASE_FILE).command == "backfill"
        assert (tmp_path / LEASE_FILE).exists()  # the backfill still holds it
    assert not (tmp_path / LEASE_FILE).exists()


def test_a_lease_whose_process_is_gone_is_taken_over_with_a_warning(tmp_path, caplog):
    _lease_file(tmp_path, host=platform.node(), pid=_dead_pid(), renewed=datetime.now(UTC))
    with LakeLease(tmp_path, command="run", date="2026-11-28", timeout=60):
        assert read_holder(tmp_path / LEASE_FILE).pid == os.getpid()
    assert "took over the lake's lease" in caplog.text and "is gone" in caplog.text


def test_a_lease_from_another_host_stands_until_it_is_not_renewed_in_time():
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    fresh = {
        "command": "run",
        "date": "2026-11-28",
        "host": "other-host",
        "pid": 1,
        "started": now.isoformat(),
        "renewed": (now - timedelta(seconds=59)).isoformat(),
        "token": "t",
    }
    from pipelines.lease import Holder

    assert why_stale(Holder(**fresh), 60, now=now) is None
    stale = Holder(**{**fresh, "renewed": (now - timedelta(seconds=61)).isoformat()})
    assert why_stale(stale, 60, now=now) == "it was last renewed 61 s ago, more than the 60 s allowed"


def test_an_old_lease_from_another_host_is_taken_over(tmp_path, caplog):
    _lease_file(tmp_path, host="other-host", pid=1, renewed=datetime.now(UTC) - timedelta(hours=1))
    with LakeLease(tmp_path, command="run", date="2026-11-28", timeout=60):
        assert read_holder(tmp_path / LEASE_FILE).host == platform.node()
    assert "other-host" in caplog.text and "more than the 60 s allowed" in caplog.text


def test_renewal_moves_the_time_and_notices_a_takeover(tmp_path):
    with LakeLease(tmp_path, command="run", date="2026-11-28", timeout=60) as lease:
        holder = lease.holder
        (tmp_path / LEASE_FILE).write_text(json.dumps({**holder.__dict__, "renewed": "2026-11-28T00:00:00+00:00"}))
        lease.renew()
        assert read_holder(tmp_path / LEASE_FILE).renewed > "2026-11-28T00:00:00+00:00"
        assert lease.lost is None
        _lease_file(tmp_path, host="other-host", pid=1, renewed=datetime.now(UTC))
        lease.renew()
        assert lease.lost is not None and "other-host" in lease.lost
    assert read_holder(tmp_path / LEASE_FILE).host == "other-host"  # not ours: left alone


def test_two_ingests_started_together_on_one_lake_one_runs_the_other_names_the_holder(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    # One delivery is enough: the winner holds the lease while it lands it.
    write_delivery(landing, "residents", "2026-11-27", {"residents.csv": residents_csv([REGISTERED])})
    script = Path(sys.executable).parent / "lipmon"
    cmd = [str(script), "ingest", "--date", "2026-11-28", "--landing", str(landing), "--lake", str(lake)]
    env = {**os.environ, "LIPMON_PSEUDONYM_KEY": "lease-test"}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    refused = next(err for code, _, err in outcomes if code == 1)
    last = refused.strip().splitlines()[-1]
    assert last.startswith(f"lipmon ingest: the lake {lake} is held by `lipmon ingest` for 2026-11-28 on host ")
    assert "(process " in last
    assert not (lake / LEASE_FILE).exists()
    assert (lake / "runs/2026-11-28/ingest.json").exists()
