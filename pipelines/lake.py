"""The lake layout and atomic publishing. The only module that turns a table (declared in
pipelines.tables) and a date into a place.

A partition is written aside under `_staging/` and swapped into place with renames on
the same filesystem, so readers see the old partition or the new one, never half of one.
The root is a local folder or a Hadoop-compatible URI (pipelines.storage).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.storage import Location, glob, is_remote, listing, rename, restrict, rmtree, write_atomically
from pipelines.tables import DELIVERY_RECORD, SOURCE_ZONES, Table, bronze_table

# The full registry extract (weekly, every resident): its lines measure the city.
REGISTRY = "residents"
# In runs/D/: written last by a run that published everything; withdrawn when a run of D starts.
SUCCESS_MARKER = "_SUCCESS"


@dataclass(frozen=True)
class Lake:
    root: Location

    def path(self, table: Table, day: date | None = None) -> Location:
        """The table's folder, or its partition for a date."""
        base = self.root / table.zone / table.name
        return base if day is None else base / f"{table.partition}={day.isoformat()}"

    def dates(self, table: Table) -> list[date]:
        """Published partition dates of a table, oldest first."""
        found = []
        for name in _folder_names(self.path(table)):
            if name.startswith(f"{table.partition}="):
                try:
                    found.append(date.fromisoformat(name.split("=", 1)[1]))
                except ValueError:
                    continue
        return sorted(found)

    def read(self, spark: Any, table: Table, day: date, schema: Any = None) -> Any:
        """A Parquet partition as a Spark DataFrame, with the given schema where there is one."""
        _refuse_unless_parquet(table)
        reader = spark.read if schema is None else spark.read.schema(schema)
        return reader.parquet(str(self.path(table, day)))

    def read_dates(self, spark: Any, table: Table, days: list[date], schema: Any) -> Any:
        """Several Parquet partitions in one scan, with the partition column (a date) last.
        One scan instead of a union of one per date keeps the plan small."""
        from pipelines.contracts.derive import partitioned_schema  # Spark's types: only where Spark reads

        _refuse_unless_parquet(table)
        reader = spark.read.schema(partitioned_schema(schema, table.partition)).option(
            "basePath", str(self.path(table))
        )
        return reader.parquet(*[str(self.path(table, d)) for d in days])

    def publish(self, staged: Location, table: Table, day: date) -> Location:
        """Swap a staged partition into place (see `publish`). The restricted zone, which
        names people, is readable by the lake's owner only."""
        final = self.path(table, day)
        if table.zone == "restricted":
            self.restricted_zone()
        publish(staged, final)
        return final

    def restricted_zone(self) -> Location:
        """`<lake>/restricted`, created if need be, readable by the lake's owner only (700):
        nothing below it (alerts with names, the push queue, ledger and outbox, the default
        pseudonym key file) can be reached by another user."""
        folder = self.root / "restricted"
        folder.mkdir(parents=True, exist_ok=True)
        restrict(folder)
        return folder

    def remove(self, table: Table, day: date) -> None:
        remove(self.path(table, day))

    def recover(self, tables: Iterable[Table]) -> list[Location]:
        """Put back the partitions of these tables that a killed run left aside."""
        return [restored for table in tables for restored in recover(self.path(table))]

    def sources(self) -> list[str]:
        """The sources that have a bronze or quarantine table in this lake."""
        return sorted({name for zone in SOURCE_ZONES for name in _folder_names(self.root / zone)})

    def run_dir(self, run_date: date) -> Location:
        return self.root / "runs" / run_date.isoformat()

    def run_dates(self) -> list[date]:
        """Dates that have a run folder, oldest first (complete or not)."""
        found = []
        for name in _folder_names(self.root / "runs"):
            try:
                found.append(date.fromisoformat(name))
            except ValueError:
                continue
        return sorted(found)

    def staging(self) -> Location:
        """A fresh folder under `<lake>/_staging`, which is readable by the lake's owner
        only: restricted partitions are written there before they are published."""
        base = self.root / "_staging"
        base.mkdir(parents=True, exist_ok=True)
        restrict(base)
        path = base / uuid.uuid4().hex
        path.mkdir()
        return path

    def clear_staging(self) -> list[Location]:
        """Remove what interrupted runs left in staging: never published, never read. Only
        the holder of the lake's lease calls this, so no other run is staging now."""
        base = self.root / "_staging"
        left = [base / name for name in _folder_names(base)] if base.exists() else []
        for path in left:
            rmtree(path)
        return left


def _refuse_unless_parquet(table: Table) -> None:
    if table.format != "parquet":
        raise ValueError(f"{table.id} is written as {table.format}, not Parquet")


def _folder_names(path: Location) -> list[str]:
    return [entry.name for entry in listing(path) if entry.is_dir]


_RENAME_EXCHANGE = 2
_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where the
    system or filesystem cannot."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = _libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def publish(staged: Location, final: Location) -> None:
    """Swap a fully written directory into place. Readers see the old partition or the new
    one: a new partition is one rename; a replacement is one atomic exchange of the two
    directories where the filesystem supports it (Linux local filesystems), else a rename
    aside and a rename in (HDFS, NFS, object stores), which `recover` repairs if a run dies
    between the two."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        rename(staged, final)
        return
    checkpoint("publish:before-swap")
    if isinstance(staged, Path) and isinstance(final, Path) and _exchange(staged, final):
        checkpoint("publish:after-swap")
        rmtree(staged)
        return
    retired = final.parent / f".retired-{final.name}-{uuid.uuid4().hex[:8]}"
    rename(final, retired)
    checkpoint("publish:between-renames")
    rename(staged, final)
    rmtree(retired)


def recover(table_dir: Location) -> list[Location]:
    """Put back partitions a killed run had renamed aside and not replaced; drop leftovers."""
    restored: list[Location] = []
    if not table_dir.is_dir():
        return restored
    for retired in glob(table_dir, ".retired-*"):
        name = retired.name[len(".retired-") :].rsplit("-", 1)[0]
        final = table_dir / name
        if final.exists():
            rmtree(retired)
        else:
            rename(retired, final)
            restored.append(final)
    return restored


def checkpoint(name: str) -> None:
    """A named point in publishing where tests can kill the process (LIPMON_KILL_AT)."""
    if os.environ.get("LIPMON_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def remove(path: Location) -> None:
    """Retire a published directory (rename first, so readers never see half of it)."""
    if path.exists():
        retired = path.parent / f".retired-{path.name}-{uuid.uuid4().hex[:8]}"
        rename(path, retired)
        rmtree(retired)


def write_json(path: Location, payload: dict) -> None:
    """Write JSON atomically (a temporary file renamed over the target)."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"
    write_atomically(path, text.encode("utf-8"), durable=False)


def write_lines(path: Location, lines: Iterable[str]) -> None:
    """Write a text file atomically and durably: after a crash the file is there whole or
    not at all, and once this returns it is on disk (the push ledger and the outbox rely on it)."""
    write_atomically(path, "".join(line + "\n" for line in lines).encode("utf-8"), durable=True)


def read_json(path: Location) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def registry_lines(lake: Lake, day: date | None = None) -> int | None:
    """The lines delivered in the registry extract landed for `day` (default: the newest
    landed), from its delivery record; None without one."""
    table = bronze_table(REGISTRY)
    if day is None:
        dates = lake.dates(table)
        if not dates:
            return None
        day = dates[-1]
    lines = (read_json(lake.path(table, day) / DELIVERY_RECORD) or {}).get("rows_read")
    return lines if isinstance(lines, int) else None


def city_residents(landing: Path | None, lake: Location | None) -> int | None:
    """The size of the city, for sizing the driver (pipelines.spark.driver_memory): the
    lines of its newest registry extract, the larger of the lake's newest landed one (its
    delivery record) and the landing folder's newest one (counted up to
    SMALL_CITY_RESIDENTS lines, enough to decide). None when neither holds one, and for a
    lake at a URI, which only Spark's JVM can read."""
    from pipelines.spark import SMALL_CITY_RESIDENTS  # here: the lake's layout alone needs no Spark

    found = []
    if lake is not None and not is_remote(lake) and (landed := registry_lines(Lake(lake))) is not None:
        found.append(landed)
    if landing is not None and (landing / REGISTRY).is_dir():
        extracts = sorted(p for p in (landing / REGISTRY).iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
        if extracts:
            found.append(_data_lines(extracts[-1], SMALL_CITY_RESIDENTS))
    return max(found) if found else None


def _data_lines(folder: Path, limit: int) -> int:
    """Lines after the header of the delivery's files, counted until they pass `limit`."""
    lines = 0
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        with open(path, "rb") as fh:
            lines -= 1  # the header
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
                if lines > limit:
                    return lines
    return max(lines, 0)
