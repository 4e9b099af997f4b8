"""The reader's side of publishing (pipelines/published.py) on a real published lake: the
bundled sample run once by `lipmon run` in its own process, copied per test that changes
it. The manifest lists exactly the files of each output partition; readers that go by it
ignore stray files, refuse a date whose `_SUCCESS` is withdrawn and a partition changed
since it was published, and a refresh after a rewrite lists the new files. Expected
values come from reading the folders with pyarrow directly. restricted/alerts holds names
and ID numbers: its rows are compared, never shown."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lake import publish
from pipelines.published import (
    PUBLISHED_TABLES,
    NotPublished,
    published_dates,
    published_files,
    read_published,
    refresh_outputs,
)
from pipelines.settings import PROJECT_ROOT
from tests.conftest import SAMPLE_DATE

D = SAMPLE_DATE
# The sample on 2026-11-28, as the README states it.
SAMPLE_HOUSEHOLDS, SAMPLE_ALERTS = 995, 267


@pytest.fixture(scope="module")
def published_lake(sample_night) -> Path:
    """The sample's lake after its night D (the session's shared run)."""
    lake, _ = sample_night
    return lake


@pytest.fixture
def lake(published_lake, tmp_path) -> Path:
    """A copy of the published lake for a test that changes it (the bronze zone is not needed)."""
    copy = tmp_path / "lake"
    shutil.copytree(published_lake, copy, ignore=shutil.ignore_patterns("bronze", "quarantine", "_staging"))
    return copy


def _folder(lake: Path, table: str) -> Path:
    return lake / table / f"snapshot_date={D}"


def _parquet_in_folder(lake: Path, table: str) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in _folder(lake, table).glob("*.parquet")}


def _outputs(lake: Path, day: date = D) -> dict[str, dict]:
    manifest = json.loads((lake / f"runs/{day}/manifest.json").read_text(encoding="utf-8"))
    return {entry["table"]: entry for entry in manifest["outputs"]}


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("household_key").reset_index(drop=True)


def test_manifest_lists_every_parquet_file_of_each_output_partition_with_its_size_and_rows(published_lake):
    assert (published_lake / f"runs/{D}/_SUCCESS").exists()
    outputs = _outputs(published_lake)
    assert sorted(outputs) == sorted(PUBLISHED_TABLES)
    for table, entry in outputs.items():
        assert entry["partition"] == f"{table}/snapshot_date={D}"
        listed = {f["name"]: f["bytes"] for f in entry["files"]}
        assert listed and listed == _parquet_in_folder(published_lake, table), table
        assert entry["rows"] == pq.read_table(_folder(published_lake, table)).num_rows, table
    assert outputs["gold/household_profile"]["rows"] == SAMPLE_HOUSEHOLDS
    assert outputs["gold/alerts"]["rows"] == outputs["restricted/alerts"]["rows"] == SAMPLE_ALERTS
    assert published_dates(published_lake, "gold/alerts") == [D]


@pytest.mark.parametrize("table", ["gold/alerts", "gold/household_profile", "gold/alert_resolutions"])
def test_read_published_equals_reading_the_partition_folder(published_lake, table):
    got = read_published(published_lake, table, D)
    assert (got["snapshot_date"] == D).all() and got.columns[-1] == "snapshot_date"
    expected = pq.read_table(_folder(published_lake, table)).to_pandas()
    pd.testing.assert_frame_equal(_sorted(got.drop(columns="snapshot_date")), _sorted(expected))


def test_read_published_reads_the_restricted_alerts_whole(published_lake):
    got = _sorted(read_published(published_lake, "restricted/alerts", D).drop(columns="snapshot_date"))
    expected = _sorted(pq.read_table(_folder(published_lake, "restricted/alerts")).to_pandas())
    same = got.shape == expected.shape and got.equals(expected)
    assert same, "restricted/alerts read by the manifest differs from the folder (contents not shown)"


def test_stray_files_in_a_published_partition_are_not_read(lake):
    folder = _folder(lake, "gold/alerts")
    listed = sorted(folder / name for name in _parquet_in_folder(lake, "gold/alerts"))
    # A whole object of another run copied in, and one cut off halfway.
    shutil.copyfile(listed[0], folder / "part-00007-0ther-run-c000.zstd.parquet")
    data = listed[0].read_bytes()
    (folder / "part-00009-half-copied-c000.zstd.parquet").write_bytes(data[: len(data) // 2])

    assert published_files(lake, "gold/alerts", D) == listed
    assert len(read_published(lake, "gold/alerts", D)) == SAMPLE_ALERTS
    with pytest.raises((pa.ArrowInvalid, OSError)):
        pq.read_table(folder)  # a naive read of the folder fails
    (folder / "part-00009-half-copied-c000.zstd.parquet").unlink()
    assert pq.read_table(folder).num_rows > SAMPLE_ALERTS  # or counts the stray rows


def test_a_withdrawn_success_marker_means_not_published(lake):
    assert published_dates(lake, "gold/alerts") == [D]
    (lake / f"runs/{D}/_SUCCESS").unlink()  # what a starting run does
    for table in ("gold/alerts", "restricted/alerts"):
        with pytest.raises(
            NotPublished,
            match=rf"{table} of {D} is not published: runs/{D}/_SUCCESS is missing; "
            r"a run is recomputing it",
        ):
            published_files(lake, table, D)
    with pytest.raises(NotPublished, match=str(D)):
        read_published(lake, "gold/alerts", D)
    assert published_dates(lake, "gold/alerts") == []
    assert _folder(lake, "gold/alerts").is_dir()  # the data is still there, but not for readers


def test_a_failed_run_says_where_it_failed(lake):
    from pipelines.run.manifest import write_manifest
    from pipelines.run.params import RunParameters

    params = RunParameters(snapshot_date=D, lake=str(lake), push=False)
    write_manifest(params, {"outcome": "failed", "failed_step": "push", "error": "webhook down"})
    assert "outputs" not in json.loads((lake / f"runs/{D}/manifest.json").read_text())
    assert not (lake / f"runs/{D}/_SUCCESS").exists()
    with pytest.raises(NotPublished, match=rf"gold/alerts of {D} is not published: .*failed at step 'push'"):
        published_files(lake, "gold/alerts", D)


def test_a_date_never_run_or_a_table_the_manifest_lacks_is_not_published(lake):
    with pytest.raises(NotPublished, match="gold/alerts of 2026-11-29 is not published: .*no run of that date"):
        published_files(lake, "gold/alerts", "2026-11-29")
    manifest_path = lake / f"runs/{D}/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["outputs"] = [e for e in manifest["outputs"] if e["table"] != "gold/alert_resolutions"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(NotPublished, match=rf"gold/alert_resolutions of {D} is not published: .*does not list it"):
        read_published(lake, "gold/alert_resolutions", D)
    assert D not in published_dates(lake, "gold/alert_resolutions")
    with pytest.raises(ValueError, match="unknown table 'gold/alert'"):
        published_files(lake, "gold/alert", D)


@pytest.mark.parametrize("change", ["removed", "truncated"])
def test_a_listed_file_removed_or_truncated_is_refused(lake, change):
    path = sorted(_folder(lake, "gold/household_profile").glob("*.parquet"))[0]
    if change == "removed":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:100])
    pattern = rf"gold/household_profile of {D} changed since it was published: {re.escape(path.name)} .*retry"
    with pytest.raises(NotPublished, match=pattern):
        published_files(lake, "gold/household_profile", D)
    with pytest.raises(NotPublished, match=pattern):
        read_published(lake, "gold/household_profile", D)


def test_refresh_after_a_partition_is_rewritten_lists_the_new_files(lake):
    """What a relink does to a later date: rewrite its gold/alerts partition, then refresh."""
    folder = _folder(lake, "gold/alerts")
    before = _outputs(lake)
    rewritten = pq.read_table(folder).slice(0, 40)
    staged = lake / "_staging" / "rewrite"
    staged.mkdir(parents=True)
    pq.write_table(rewritten.slice(0, 25), staged / "part-00000-rewrite-c000.zstd.parquet", compression="zstd")
    pq.write_table(rewritten.slice(25), staged / "part-00001-rewrite-c000.zstd.parquet", compression="zstd")
    publish(staged, folder)
    with pytest.raises(NotPublished, match="changed since it was published"):
        published_files(lake, "gold/alerts", D)

    assert refresh_outputs(lake, D, ["gold/alerts"]) is True
    after = _outputs(lake)
    assert {f["name"]: f["bytes"] for f in after["gold/alerts"]["files"]} == _parquet_in_folder(lake, "gold/alerts")
    assert after["gold/alerts"]["rows"] == 40
    assert {t: e for t, e in after.items() if t != "gold/alerts"} == {
        t: e for t, e in before.items() if t != "gold/alerts"
    }
    assert (lake / f"runs/{D}/_SUCCESS").exists()
    assert len(read_published(lake, "gold/alerts", D)) == 40
    assert refresh_outputs(lake, D, ["gold/alerts"]) is False  # nothing changed since


def test_refresh_leaves_a_manifest_without_outputs_alone(lake):
    manifest_path = lake / f"runs/{D}/manifest.json"
    failed = {"snapshot_date": D.isoformat(), "outcome": "failed", "failed_step": "push"}
    manifest_path.write_text(json.dumps(failed))
    assert refresh_outputs(lake, D, ["gold/alerts"]) is False
    assert json.loads(manifest_path.read_text()) == failed


def test_the_recipe_without_lipmon_in_the_docs_reads_the_published_files(published_lake):
    text = (PROJECT_ROOT / "docs" / "publishing.md").read_text(encoding="utf-8")
    section = text.split("### Without lipmon", 1)[1]
    recipe = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "pipelines" not in recipe
    scope: dict = {}
    exec(recipe.replace('"/shared/lake"', repr(str(published_lake))), scope)
    expected = pq.read_table(_folder(published_lake, "gold/alerts")).to_pandas()
    pd.testing.assert_frame_equal(_sorted(scope["df"]), _sorted(expected))


def test_the_reader_api_imports_no_spark():
    code = (
        "import sys, pipelines.published; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyspark', 'py4j', 'prefect'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
