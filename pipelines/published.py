"""What a run published, and how to read it on storage where publishing is not atomic.

Writers: the nightly run's manifest gets an `outputs` section (every file of every output
partition, with its size, and the rows) before `_SUCCESS` is written; a relink of later
dates refreshes their entries. Readers: `published_dates`, `published_files` and
`read_published` go by `runs/D/_SUCCESS` and that file list, never by what the folder
holds. Needs pyarrow and pandas only, not Spark, so analysts' tools can use it.
See docs/publishing.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lake import SUCCESS_MARKER, Lake, read_json, write_json
from pipelines.storage import Entry, Location, is_remote, lake_location, listing, parquet_rows, relative
from pipelines.tables import REPORT_TABLES, SNAPSHOT_TABLES, snapshot_table

# The output tables a nightly run publishes per snapshot date, as "zone/table".
PUBLISHED_TABLES = tuple(t.id for t in (*SNAPSHOT_TABLES, *REPORT_TABLES))
MANIFEST = "manifest.json"
_RETRY = "a run is replacing it: retry after it finishes"


class NotPublished(Exception):
    """A table's partition for a date is not (or not any more) published whole."""


def _folder(lake: Lake, table: str, day: date) -> Location:
    return lake.path(snapshot_table(table), day)


def data_files(folder: Location) -> list[Entry]:
    """The Parquet files of a partition folder, with their sizes, from one listing; Spark's
    `_SUCCESS` and hidden `.crc` files are not data."""
    return sorted(
        (
            e
            for e in listing(folder)
            if not e.is_dir and e.name.endswith(".parquet") and not e.name.startswith((".", "_"))
        ),
        key=lambda e: e.name,
    )


def describe_partition(lake_root: Location | str, table: str, snapshot_date: date) -> dict | None:
    """A published partition as the manifest lists it: its files with their sizes, and
    its rows from the Parquet footers (no data is read). None if the partition does not exist."""
    lake = Lake(lake_location(lake_root))
    folder = _folder(lake, table, snapshot_date)
    if not folder.is_dir():
        return None
    files = data_files(folder)
    return {
        "table": table,
        "partition": relative(folder, lake.root),
        "files": [{"name": f.name, "bytes": f.size} for f in files],
        "rows": sum(parquet_rows(folder / f.name) for f in files),
    }


def describe_outputs(lake_root: Location | str, snapshot_date: date) -> list[dict]:
    """The manifest's `outputs` section: every output table whose partition for the date exists."""
    described = (describe_partition(lake_root, table, snapshot_date) for table in PUBLISHED_TABLES)
    return [entry for entry in described if entry is not None]


def refresh_outputs(lake_root: Location | str, snapshot_date: date, tables: Iterable[str]) -> bool:
    """After partitions of an already published date were rewritten (a relink of its alert
    lifecycle), describe them again in its manifest; its `_SUCCESS` stays. A manifest
    without `outputs` (a failed run) is left alone. Returns whether the manifest changed."""
    lake = Lake(lake_location(lake_root))
    path = lake.run_dir(snapshot_date) / MANIFEST
    manifest = read_json(path)
    if not manifest or "outputs" not in manifest:
        return False
    entries = {entry["table"]: entry for entry in manifest["outputs"]}
    for table in tables:
        entry = describe_partition(lake.root, table, snapshot_date)
        if entry is None:
            entries.pop(table, None)
        else:
            entries[table] = entry
    outputs = [entries[t] for t in PUBLISHED_TABLES if t in entries]
    if outputs == manifest["outputs"]:
        return False
    write_json(path, {**manifest, "outputs": outputs})
    return True


def _entry(manifest: dict | None, table: str) -> dict | None:
    return next((e for e in (manifest or {}).get("outputs", []) if e.get("table") == table), None)


def _as_date(snapshot_date: date | str) -> date:
    return snapshot_date if isinstance(snapshot_date, date) else date.fromisoformat(snapshot_date)


def published_dates(lake_root: Location | str, table: str) -> list[date]:
    """Dates whose run is complete (`runs/D/_SUCCESS`) and whose manifest lists the table, oldest first."""
    snapshot_table(table)
    lake = Lake(lake_location(lake_root))
    complete = [d for d in lake.run_dates() if (lake.run_dir(d) / SUCCESS_MARKER).exists()]
    return [d for d in complete if _entry(read_json(lake.run_dir(d) / MANIFEST), table)]


def _why_not_complete(lake: Lake, day: date) -> str:
    run_dir = lake.run_dir(day)
    manifest = read_json(run_dir / MANIFEST)
    if manifest is None:
        return "no run of that date has completed"
    if manifest.get("outcome") == "failed":
        return f"its last run failed at step '{manifest.get('failed_step')}' (see runs/{day}/{MANIFEST})"
    return "a run is recomputing it, or was interrupted: retry after it finishes"


def published_files(lake_root: Location | str, table: str, snapshot_date: date | str) -> list[Location]:
    """Exactly the files the date's manifest lists for the table, after checking that the
    run is complete and that each file is still there with its published size. Raises
    NotPublished otherwise. Other files in the folder (a half-copied object, a run's
    leftovers) are not the table."""
    lake = Lake(lake_location(lake_root))
    day = _as_date(snapshot_date)
    folder = _folder(lake, table, day)
    run_dir = lake.run_dir(day)
    if not (run_dir / SUCCESS_MARKER).exists():
        raise NotPublished(
            f"{table} of {day} is not published: runs/{day}/{SUCCESS_MARKER} is missing; {_why_not_complete(lake, day)}"
        )
    entry = _entry(read_json(run_dir / MANIFEST), table)
    if entry is None:
        raise NotPublished(
            f"{table} of {day} is not published: runs/{day}/{MANIFEST} does not list it "
            "(the run wrote no such partition, or predates the manifest's outputs)"
        )
    files = []
    for listed in entry["files"]:
        path = folder / Path(listed["name"]).name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotPublished(
                f"{table} of {day} changed since it was published: {listed['name']} is gone; {_RETRY}"
            ) from None
        if size != listed["bytes"]:
            raise NotPublished(
                f"{table} of {day} changed since it was published: {listed['name']} has "
                f"{size} bytes, the manifest says {listed['bytes']}; {_RETRY}"
            )
        files.append(path)
    if not (run_dir / SUCCESS_MARKER).exists():  # withdrawn while we looked
        raise NotPublished(f"{table} of {day} is not published: runs/{day}/{SUCCESS_MARKER} was withdrawn; {_RETRY}")
    return files


def read_published_table(
    lake_root: Location | str, table: str, snapshot_date: date | str, columns: list[str] | None = None
) -> pa.Table:
    """The table's published rows for the date as Arrow, only `columns` if given: exactly
    the manifest's files. Raises NotPublished as `published_files` does, also when the
    partition changes while it is being read."""
    day = _as_date(snapshot_date)
    files = published_files(lake_root, table, day)
    try:
        parts = [
            pq.read_table(pa.BufferReader(path.read_bytes()) if is_remote(path) else path, columns=columns)
            for path in files
        ]
    except (OSError, pa.ArrowException):
        published_files(lake_root, table, day)  # raises NotPublished if a run replaced it meanwhile
        raise
    if published_files(lake_root, table, day) != files:
        raise NotPublished(f"{table} of {day} changed while it was being read; {_RETRY}")
    if not parts:
        return pa.table({c: pa.array([], pa.null()) for c in columns or []})
    return pa.concat_tables(parts)


def read_published(
    lake_root: Location | str, table: str, snapshot_date: date | str, columns: list[str] | None = None
) -> pd.DataFrame:
    """`read_published_table` as pandas, with the `snapshot_date` column (a date) that
    reading the partitioned table gives."""
    day = _as_date(snapshot_date)
    data = read_published_table(lake_root, table, day, columns)
    data = data.append_column("snapshot_date", pa.array([day] * data.num_rows, pa.date32()))
    return data.to_pandas()
