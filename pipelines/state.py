"""The state that makes a night cost what changed: each source's person indicators (a
year of social-security payments summed by person, the registry's disability
certificates, ...) kept by what they were computed from.

A night's person indicators of a source are a function of three things: the source's
rows as of the snapshot date (the bronze partitions read, each known by its delivery
record: the files landed and the rows kept), what the indicators compute on that date
(their rendered SQL and their windows as months or days, `person_definition`), and the
contract and the code (all of the package's) that typed the rows and aggregate them.
Their digest names a folder under `<lake>/state/person_indicators/<source>/`; a night
whose digest is there reads the aggregates instead of recomputing them from the rows.
The income window moves by month and payments arrive monthly, so most nights of a month
find the payments' aggregates ready; a delivery, a correction or a late delivery of a
date already computed changes the digest, and the source is computed again from bronze
and kept.

The state is a cache, never the truth: a missing, unreadable or incomplete folder is
computed again (and replaced), `lipmon run --full` ignores it, and since the digest holds
everything the result depends on, a backfill of D gives what the night of D gave,
whatever was delivered later. Only the newest KEEP folders of a source are kept. The
folders hold sums and counts by ID number, personal data like bronze: `<lake>/state/` is
readable by the lake's owner only, and no analyst-facing table reads it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from importlib import resources
from importlib.resources.abc import Traversable

from pyspark.sql import DataFrame, SparkSession

import pipelines
from pipelines.contracts import Contract
from pipelines.lake import Lake, read_json, write_json
from pipelines.policy import Policy
from pipelines.profile.household import person_aggregates, person_definition, person_sources
from pipelines.profile.indicators import Indicator
from pipelines.published import data_files
from pipelines.storage import Location, listing, parquet_rows, rename, restrict, rmtree
from pipelines.tables import DELIVERY_RECORD, bronze_table

log = logging.getLogger(__name__)

RECORD = "_state.json"
ROWS = "rows"
KEEP = 3  # the newest states of a source kept: a night, the night before, a backfill's


def state_root(lake: Lake) -> Location:
    return lake.root / "state" / "person_indicators"


def code_digest(package: Traversable | None = None) -> str:
    """The release and the source of every module of the package (`package`: its folder, by
    default the one imported; a checkout, an installed wheel and the zip spark-submit ships
    give the same digest). What types the rows, picks the latest row of a key and evaluates
    the indicators is spread over many modules; any change to the code computes the state
    again, rather than trusting a list of the modules that matter to be kept up to date."""
    digest = hashlib.sha256(pipelines.__version__.encode())
    for path, source in sorted(_sources(package or resources.files(pipelines))):
        digest.update(f"\0{path}\0".encode())
        digest.update(source)
    return digest.hexdigest()


def _sources(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _sources(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".py"):
            yield f"{prefix}{entry.name}", entry.read_bytes()


def _deliveries(lake: Lake, source: str, dates: Sequence[str]) -> list[dict]:
    """The bronze partitions read, each by its delivery record (files and counts)."""
    table = bronze_table(source)
    described = []
    for day in dates:
        record = read_json(lake.path(table, date.fromisoformat(day)) / DELIVERY_RECORD) or {}
        files = [{k: f.get(k) for k in ("file", "bytes", "mtime_ns")} for f in record.get("files", [])]
        described.append({"extract_date": day, "files": files, "rows_kept": record.get("rows_kept")})
    return described


def state_key(definition: str, deliveries: list[dict], contract: Contract, code: str) -> str:
    """The digest of everything a source's person indicators depend on."""
    payload = {"definition": definition, "deliveries": deliveries, "contract": contract.model_dump(mode="json")}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False) + code
    return hashlib.sha256(text.encode()).hexdigest()


def _rows_held(folder: Location) -> int:
    """The rows of a folder of Parquet files, from their footers (no Spark job, no data
    read); an error if a file's footer cannot be read."""
    return sum(parquet_rows(folder / f.name) for f in data_files(folder))


def _cached(spark: SparkSession, folder: Location, key: str) -> DataFrame | None:
    """The kept aggregates, if the folder is whole; None (and a warning) otherwise."""
    record = read_json(folder / RECORD) if folder.exists() else None
    if not record:
        return None
    try:
        counted = _rows_held(folder / ROWS)
        rows = spark.read.parquet(str(folder / ROWS))
    except Exception as exc:  # a damaged state is computed again, never trusted
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        log.warning("state %s cannot be read (%s: %s); computing it again", folder, type(exc).__name__, first)
        return None
    if record.get("key") != key:
        log.warning("state %s was written for another digest; computing it again", folder)
        return None
    if counted != record.get("rows"):
        log.warning("state %s holds %d rows, not %s; computing it again", folder, counted, record.get("rows"))
        return None
    return rows


def _keep(spark: SparkSession, lake: Lake, folder: Location, computed: DataFrame, key: str, as_of: date) -> DataFrame:
    """Write the aggregates aside, then move the folder into place; the older states of
    the source beyond KEEP are removed."""
    staged = lake.staging()
    try:
        computed.write.parquet(str(staged / ROWS))
        rows = _rows_held(staged / ROWS)
        write_json(staged / RECORD, {"key": key, "rows": rows, "as_of": as_of.isoformat(), "written": time.time()})
        if folder.exists():
            rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        restrict(state_root(lake).parent)
        rename(staged, folder)
    finally:
        rmtree(staged)
    _prune(folder.parent)
    return spark.read.parquet(str(folder / ROWS))


def _prune(source_dir: Location) -> None:
    kept = []
    for entry in listing(source_dir):
        record = read_json(source_dir / entry.name / RECORD) or {}
        kept.append((record.get("written") or 0.0, entry.name))
    for _, name in sorted(kept, reverse=True)[KEEP:]:
        rmtree(source_dir / name)


def person_indicators(
    spark: SparkSession,
    lake: Lake,
    inputs: Mapping[str, DataFrame],
    read: Mapping[str, list[str]],
    contracts: Mapping[str, Contract],
    indicators: Sequence[Indicator],
    policy: Policy,
    as_of: date,
    *,
    full: bool = False,
) -> dict[str, DataFrame]:
    """The delivered sources' person indicators by person_id, from the state where it
    holds them, else computed from `inputs` and kept. A source whose indicators compute
    something else tomorrow (a window sliding by the day) is left out: its aggregates
    could only serve this date again, and the night computes them in its own plan.
    `read`: the bronze dates read of each source (SnapshotResult.inputs). `full`: compute
    every source again."""
    code = code_digest()
    found = {}
    for source in person_sources(indicators, inputs):
        definition = person_definition(indicators, policy, as_of, source)
        if definition != person_definition(indicators, policy, as_of + timedelta(days=1), source):
            continue  # what they compute is the date's own (a window sliding by the day): nothing to keep
        key = state_key(definition, _deliveries(lake, source, read[source]), contracts[source], code)
        folder = state_root(lake) / source / key[:32]
        cached = None if full else _cached(spark, folder, key)
        if cached is not None:
            log.info("%s: person indicators from the state (%s)", source, folder.name)
            found[source] = cached
        else:
            computed = person_aggregates(inputs, indicators, policy, as_of, source)
            found[source] = _keep(spark, lake, folder, computed, key, as_of)
    return found
