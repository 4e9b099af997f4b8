"""A lake at a Hadoop-compatible URI: the driver's own reads, writes and renames go through
Hadoop's FileSystem API. Here the URI is `viewfs://<name>/lake`, Hadoop's mount-table
filesystem over a temporary folder: a real Hadoop filesystem that Python's `open` cannot
reach, so any code path that still used the local filesystem would fail or write elsewhere."""

from __future__ import annotations

import json
import stat
import uuid
from datetime import date
from pathlib import Path, PurePosixPath

import pytest

from pipelines.lake import SUCCESS_MARKER, Lake, publish, read_json, recover, remove, write_json, write_lines
from pipelines.lease import LEASE_FILE, LakeBusy, LakeLease
from pipelines.pseudonym import fingerprint, load_key
from pipelines.published import NotPublished, describe_outputs, published_files, read_published
from pipelines.storage import HadoopPath, lake_location, local_copy, read_lines
from pipelines.tables import ALERTS, HOUSEHOLD_PROFILE

DAY = date(2026, 11, 28)


@pytest.fixture
def viewfs(spark, tmp_path: Path) -> tuple[HadoopPath, Path]:
    """viewfs://<fresh name>/lake mounted on a temporary folder: the lake's URI and the folder."""
    name = f"t{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "mounted"
    folder.mkdir()
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.viewfs.mounttable.{name}.link./lake", folder.as_uri())
    return HadoopPath(f"viewfs://{name}/lake"), folder


def _files(folder: Path) -> list[str]:
    """Names under a folder, without Hadoop's local checksum files."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.name.endswith(".crc"))


def test_lake_locations_are_paths_or_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lake_location("lake") == tmp_path / "lake"
    assert lake_location(f"file://{tmp_path}/x") == tmp_path / "x"
    remote = lake_location("hdfs://namenode:8020/lipmon/lake/")
    assert isinstance(remote, HadoopPath)
    assert str(remote / "runs" / "2026-11-28") == "hdfs://namenode:8020/lipmon/lake/runs/2026-11-28"
    partition = remote / "gold/alerts/snapshot_date=2026-11-28"
    assert partition.name == "snapshot_date=2026-11-28"
    assert partition.parent == remote / "gold" / "alerts"
    assert partition.relative_to(remote) == PurePosixPath("gold/alerts/snapshot_date=2026-11-28")
    assert str(lake_location("s3a://bucket/lake")) == "s3a://bucket/lake"
    with pytest.raises(ValueError):
        partition.relative_to(lake_location("hdfs://namenode:8020/other"))


def test_publishing_on_a_hadoop_filesystem_renames_aside_and_recover_repairs_an_interrupted_swap(spark, viewfs):
    uri, folder = viewfs
    lake = Lake(uri)
    final = lake.path(ALERTS, DAY)
    for rows in (3, 5):
        staged = lake.staging() / "alerts"
        spark.range(rows).write.parquet(str(staged))
        publish(staged, final)
    physical = folder / f"gold/alerts/snapshot_date={DAY}"
    assert spark.read.parquet(str(physical)).count() == 5  # the second replaced the first
    (physical.parent / "snapshot_date=not-a-date").mkdir()
    (physical.parent / "snapshot_date=2026-11-01").write_text("a file, not a partition")
    assert lake.dates(ALERTS) == [DAY]
    assert lake.dates(HOUSEHOLD_PROFILE) == []
    (physical.parent / "snapshot_date=not-a-date").rmdir()
    (physical.parent / "snapshot_date=2026-11-01").unlink()
    assert not [p for p in physical.parent.iterdir() if p.name.startswith(".retired-")]

    # A run killed between its two renames leaves the partition aside and nothing in place.
    physical.rename(physical.parent / f".retired-{physical.name}-4567cdef")
    assert recover(lake.root / "gold" / "alerts") == [final]
    assert spark.read.parquet(str(physical)).count() == 5
    # One killed after them leaves the old one aside beside the new: it is dropped.
    (physical.parent / f".retired-{physical.name}-0123abcd").mkdir()
    assert recover(lake.root / "gold" / "alerts") == []
    assert sorted(p.name for p in physical.parent.iterdir() if not p.name.endswith(".crc")) == [physical.name]

    remove(final)
    assert not physical.exists() and list(physical.parent.iterdir()) == []


def test_json_and_lines_are_replaced_whole_with_nothing_left_beside_them(viewfs):
    uri, folder = viewfs
    manifest = uri / "runs" / DAY.isoformat() / "manifest.json"
    assert read_json(manifest) is None
    assert Lake(uri).run_dates() == []
    write_json(manifest, {"outcome": "failed", "名": "中文"})
    assert Lake(uri).run_dates() == [DAY]
    write_json(manifest, {"outcome": "succeeded"})
    assert read_json(manifest) == {"outcome": "succeeded"}
    assert json.loads((folder / f"runs/{DAY}/manifest.json").read_text()) == {"outcome": "succeeded"}
    ledger = uri / "restricted" / "push_ledger" / "batch.jsonl"
    write_lines(ledger, ['{"idempotency_key": "a"}', '{"idempotency_key": "b"}'])
    assert list(read_lines(ledger)) == ['{"idempotency_key": "a"}', '{"idempotency_key": "b"}']
    assert _files(folder) == [
        "restricted",
        "restricted/push_ledger",
        "restricted/push_ledger/batch.jsonl",
        "runs",
        f"runs/{DAY}",
        f"runs/{DAY}/manifest.json",
    ]


def test_a_new_pseudonym_key_on_a_hadoop_filesystem_is_owner_only_and_read_back(viewfs, monkeypatch):
    monkeypatch.delenv("LIPMON_PSEUDONYM_KEY", raising=False)
    uri, folder = viewfs
    key = load_key(uri / "restricted" / "pseudonym.key")
    physical = folder / "restricted" / "pseudonym.key"
    assert stat.S_IMODE(physical.stat().st_mode) == 0o600
    assert physical.read_text().strip().encode() == key and len(key) == 64
    assert fingerprint(load_key(uri / "restricted" / "pseudonym.key")) == fingerprint(key)


def test_the_lease_on_a_hadoop_filesystem_is_exclusive_and_the_restricted_zone_owner_only(viewfs):
    uri, folder = viewfs
    with LakeLease(uri, command="run", date="2026-11-28", timeout=60):
        assert json.loads((folder / LEASE_FILE).read_text())["command"] == "run"
        with pytest.raises(LakeBusy, match="held by `lipmon run` for 2026-11-28"):
            LakeLease(uri, command="ingest", date="2026-11-29", timeout=60)._acquire()
    assert not (folder / LEASE_FILE).exists()
    Lake(uri).restricted_zone()
    assert stat.S_IMODE((folder / "restricted").stat().st_mode) == 0o700


def test_data_docs_written_locally_are_put_back_and_fetched_again(viewfs):
    uri, folder = viewfs
    docs = uri / "runs" / DAY.isoformat() / "quality" / "data_docs"
    with local_copy(docs) as local:
        assert isinstance(local, Path) and list(local.iterdir()) == []
        (local / "index.html").write_text("first run")
    with local_copy(docs) as local:
        assert (local / "index.html").read_text() == "first run"  # the earlier run's site is there
        (local / "second.html").write_text("second run")
    assert sorted(
        p.name for p in (folder / f"runs/{DAY}/quality/data_docs").iterdir() if not p.name.endswith(".crc")
    ) == ["index.html", "second.html"]


def test_the_reader_contract_holds_on_a_hadoop_filesystem(spark, viewfs):
    """The manifest counts rows from the Parquet footers read through Hadoop; a reader
    gets exactly the listed files, and a file changed after publishing is refused."""
    uri, folder = viewfs
    lake = Lake(uri)
    staged = lake.staging() / "alerts"
    spark.range(7).selectExpr("id AS household_key").repartition(2).write.parquet(str(staged))
    publish(staged, lake.path(ALERTS, DAY))
    outputs = describe_outputs(uri, DAY)
    assert [(o["table"], o["rows"], len(o["files"])) for o in outputs] == [("gold/alerts", 7, 2)]
    write_json(lake.run_dir(DAY) / "manifest.json", {"outcome": "succeeded", "outputs": outputs})
    with pytest.raises(NotPublished, match="_SUCCESS is missing"):
        read_published(str(uri), "gold/alerts", DAY)
    (lake.run_dir(DAY) / SUCCESS_MARKER).write_text("")
    rows = read_published(str(uri), "gold/alerts", DAY)
    assert sorted(rows["household_key"]) == list(range(7))
    assert set(rows["snapshot_date"]) == {DAY}

    # A stray file in the folder is not the table; a listed file that changed size is refused.
    physical = folder / f"gold/alerts/snapshot_date={DAY}"
    (physical / "part-99999-stray.parquet").write_bytes(b"half an object")
    assert len(published_files(str(uri), "gold/alerts", DAY)) == 2
    listed = physical / outputs[0]["files"][0]["name"]
    with open(listed, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(NotPublished, match="changed since it was published"):
        published_files(str(uri), "gold/alerts", DAY)
