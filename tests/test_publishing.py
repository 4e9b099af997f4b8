"""A run killed in the middle of publishing (SIGKILL at several points) leaves every
output of that date whole and readable, old or new, never half; a rerun then gives
exactly what an uninterrupted run gives."""

from __future__ import annotations

import shutil
import signal
from datetime import date
from pathlib import Path

import pytest

from pipelines.lake import publish, recover
from tests.conftest import SAMPLE_KEY, lake_contents, lipmon_run, night_in_process

D = date(2026, 11, 28)
TABLES = ("gold/household_profile", "gold/alerts", "restricted/alerts")
# Right after the first swap (one table new, the others old: the mixed state a reader must
# never be shown as complete), and after all tables are published but before the run is
# marked complete. (A kill before the first swap leaves everything old: a weaker case of
# the first.)
KILL_POINTS = ["publish:after-swap", "manifest:before-success-marker"]
KEY = SAMPLE_KEY


def _tables(lake: Path) -> dict[str, list]:
    contents = lake_contents(lake)
    return {table: contents[f"{table}/snapshot_date={D}"] for table in TABLES}


@pytest.mark.system
def test_killed_publishing_leaves_old_or_new_outputs_and_a_rerun_matches_an_uninterrupted_run(
    tmp_path, small_city_night
):
    landing, uninterrupted = small_city_night
    wider = tmp_path / "wider.yaml"
    wider.write_text("alerts: {top_share: 0.5}\n", encoding="utf-8")  # changes the alerts
    lake = tmp_path / "lake"
    shutil.copytree(uninterrupted, lake)
    old = _tables(lake)

    clean = tmp_path / "clean"
    shutil.copytree(lake, clean)
    night_in_process(clean, landing, KEY, config=wider)
    new = _tables(clean)
    assert new != old

    for point in KILL_POINTS:
        code, output = lipmon_run(lake, landing, KEY, config=wider, kill_at=point)
        assert code == -signal.SIGKILL, (point, output[-2000:])
        seen = _tables(lake)
        for table in TABLES:
            assert seen[table] in (old[table], new[table]), (point, table)
        assert not (lake / f"runs/{D}/_SUCCESS").exists(), point

    night_in_process(lake, landing, KEY, config=wider)
    assert _tables(lake) == new
    assert (lake / f"runs/{D}/_SUCCESS").exists()
    assert not list(lake.rglob(".retired-*"))


def test_recover_puts_back_a_partition_left_aside(tmp_path):
    table = tmp_path / "gold" / "alerts"
    aside = table / ".retired-snapshot_date=2026-11-28-abcd1234"
    aside.mkdir(parents=True)
    (aside / "part-0.parquet").write_text("old")
    assert recover(table) == [table / "snapshot_date=2026-11-28"]
    assert (table / "snapshot_date=2026-11-28" / "part-0.parquet").read_text() == "old"


def test_publish_replaces_a_partition_in_one_step(tmp_path):
    final, staged = tmp_path / "t" / "d=1", tmp_path / "staged"
    final.mkdir(parents=True)
    (final / "a").write_text("old")
    staged.mkdir()
    (staged / "a").write_text("new")
    publish(staged, final)
    assert (final / "a").read_text() == "new" and not staged.exists()
