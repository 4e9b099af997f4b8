"""The state kept between nights (pipelines.state): a source's person indicators are read
back on a night that would compute exactly the same (same rows, same definitions), and
computed again when a delivery, a correction, a new window or `--full` says otherwise; a
damaged state is computed again. Every night equals the night computed from bronze alone."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipelines
from pipelines.contracts import load_contracts
from pipelines.ingest.run import ingest
from pipelines.lake import Lake
from pipelines.policy import load_policy
from pipelines.profile.household import person_definition
from pipelines.profile.indicators import load_indicators
from pipelines.settings import PROJECT_ROOT
from pipelines.snapshot import build_snapshot
from pipelines.state import code_digest
from tests.deliveries import payments_csv, recipients_city, small_city, write_delivery

CONTRACTS = load_contracts(PROJECT_ROOT / "schemas" / "sources")
INDICATORS = load_indicators(PROJECT_ROOT / "schemas" / "indicators")
POLICY = load_policy()
KEY = b"k" * 32
D1, D2 = date(2026, 11, 27), date(2026, 11, 28)
WIDOW_VILLAGE = "371481101002"  # H2, the widow alone: 300 of pension in each of two months


def _definition(source: str, day: date) -> str:
    return person_definition(INDICATORS, POLICY, day, source)


def test_a_definition_changes_with_its_window_and_only_then():
    # The income window is the 12 months before the snapshot's month: the same all month.
    november = [_definition("social_security", date(2026, 11, d)) for d in (1, 15, 30)]
    assert november[0] == november[1] == november[2]
    assert _definition("social_security", date(2026, 12, 1)) != november[0]
    assert '"2025-11"' in november[0] and '"2026-10"' in november[0] and '"2026-11"' not in november[0]
    # The medical windows slide by the day.
    assert _definition("medical_settlements", D1) != _definition("medical_settlements", D2)
    # A setting the indicators read is part of what they compute.
    longer = POLICY.model_copy(update={"index": POLICY.index.model_copy(update={"income_window_months": 6})})
    assert person_definition(INDICATORS, longer, D1, "social_security") != november[0]


def test_the_code_digest_covers_every_module_of_the_package_wherever_it_is_installed(tmp_path):
    """The state's digest holds the source of every module (not a list of those that
    matter, which goes stale): the same from a folder and from a zip (spark-submit's),
    changed by an edit to any module, not by other files."""
    copy = tmp_path / "tree" / "pipelines"
    shutil.copytree(Path(pipelines.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shipped = tmp_path / "pipelines.zip"
    with zipfile.ZipFile(shipped, "w") as archive:
        for file in sorted(copy.rglob("*")):
            archive.write(file, file.relative_to(copy.parent).as_posix())
    digest = code_digest(copy)
    assert code_digest(zipfile.Path(shipped, "pipelines/")) == digest == code_digest()
    (copy / "quality" / "notes.txt").write_text("not code\n")
    assert code_digest(copy) == digest
    # A module the old list of modules left out: windows are computed there.
    window = copy / "profile" / "window.py"
    window.write_text(window.read_text() + "\n# changed\n")
    assert code_digest(copy) != digest


def _states(lake: Path, source: str) -> list[Path]:
    folder = lake / "state" / "person_indicators" / source
    return sorted(folder.iterdir()) if folder.exists() else []


def _night(spark, lake: Path, day: date, *, full: bool = False) -> pd.Series:
    build_snapshot(spark, Lake(lake), CONTRACTS, POLICY, INDICATORS, as_of=day, key=KEY, full=full)
    profile = pd.read_parquet(lake / f"gold/household_profile/snapshot_date={day}")
    return profile.set_index("region_code").loc[WIDOW_VILLAGE]


def _plant(state: Path, pension_fen: int) -> None:
    """Give every person of the payments' state another pension: only a night that reads
    the state can publish it."""
    for path in (state / "rows").glob("*.parquet"):
        table = pq.read_table(path)
        frame = table.to_pandas()
        frame["pension_fen"] = pension_fen
        pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), path)
        (path.parent / f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old file


@pytest.fixture
def city(spark, landing, lake):
    ids = small_city(landing)
    ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D2)
    return landing, lake, ids


def test_a_night_that_computes_the_same_reads_the_state_and_a_change_computes_again(spark, city):
    landing, lake, ids = city
    assert _night(spark, lake, D1)["pension_income"] == pytest.approx(600 / 12)
    (state,) = _states(lake, "social_security")
    record = json.loads((state / "_state.json").read_text(encoding="utf-8"))
    assert record["as_of"] == "2026-11-27" and record["rows"] == 4  # head, widow, worker, old

    _plant(state, 1_200_000)  # 12,000 yuan over the year: 1,000 a month
    # The next night: same month, no new payments: the state answers.
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx(1000.0)
    assert _states(lake, "social_security") == [state]
    # --full computes from bronze and replaces the state.
    assert _night(spark, lake, D2, full=True)["pension_income"] == pytest.approx(50.0)
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx(50.0)

    # A correction delivered for the same night: the rows changed, so the state does not answer.
    _plant(state, 1_200_000)
    corrected = f"P2026102,{ids['widow']},202610,pension,900"  # October's pension: 900, not 300
    write_delivery(landing, "social_security", "2026-11-28", {"payments.csv": payments_csv([corrected])})
    ingest(spark, Lake(lake), landing, CONTRACTS, as_of=D2)
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx((300 + 900) / 12)
    assert len(_states(lake, "social_security")) == 2  # the night before's state is kept too


def test_a_damaged_state_is_computed_again(spark, city):
    _, lake, _ = city
    _night(spark, lake, D1)
    (state,) = _states(lake, "social_security")
    for path in (state / "rows").glob("*.parquet"):
        path.write_bytes(b"PAR1 not a parquet file")
        (path.parent / f".{path.name}.crc").unlink(missing_ok=True)
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx(50.0)
    (state,) = _states(lake, "social_security")
    assert len(pd.read_parquet(state / "rows")) == 4


def test_a_state_holding_other_rows_than_its_record_is_computed_again(spark, city):
    """A state folder is trusted only if its files hold the rows its record counted: a
    stray copy of a file (a partial copy, a retried move) is not read."""
    _, lake, _ = city
    _night(spark, lake, D1)
    (state,) = _states(lake, "social_security")
    part = sorted((state / "rows").glob("*.parquet"))[0]  # however many files Spark wrote
    shutil.copy(part, part.with_name("part-99999-copy.parquet"))
    _plant(state, 1_200_000)  # were the folder read, both copies would give the widow 2,000 a month
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx(50.0)
    (state,) = _states(lake, "social_security")
    assert len(pd.read_parquet(state / "rows")) == 4


def test_a_night_the_state_answers_never_reads_the_sources_rows(spark, city):
    """The payments' rows (a year of them, in a city) are not read, not even to choose
    the latest row of each key, when their person indicators come from the state."""
    _, lake, _ = city
    assert _night(spark, lake, D1)["pension_income"] == pytest.approx(50.0)
    payments = sorted((lake / "bronze" / "social_security").rglob("*.parquet"))
    assert payments
    for path in payments:  # any read of the payments' rows now fails
        path.write_bytes(b"PAR1 not a parquet file")
        (path.parent / f".{path.name}.crc").unlink(missing_ok=True)
    assert _night(spark, lake, D2)["pension_income"] == pytest.approx(50.0)
    with pytest.raises(Exception, match="(?i)parquet"):
        _night(spark, lake, D2, full=True)


def _assert_tables_equal(ours: Path, theirs: Path, day: date, more: tuple[str, ...] = ()) -> None:
    for table in ("gold/household_profile", "gold/alerts", "restricted/alerts", "gold/alert_resolutions", *more):
        a = pd.read_parquet(ours / f"{table}/snapshot_date={day}")
        b = pd.read_parquet(theirs / f"{table}/snapshot_date={day}")
        order = [c for c in ("household_key", "household_id", "person_id") if c in a.columns]
        a, b = (frame.sort_values(order).reset_index(drop=True) for frame in (a, b))
        pd.testing.assert_frame_equal(a, b, obj=f"{table} {day}")


def test_a_night_with_the_profiles_cached_equals_one_without(spark, city, tmp_path, monkeypatch):
    """A large city's profiles are cached (pipelines.snapshot.CACHE_FROM_RESIDENTS); the
    small city is not large, so the threshold is lowered for one of two copies."""
    import shutil

    from pipelines import snapshot

    _, lake, _ = city
    cached = tmp_path / "cached"
    shutil.copytree(lake, cached)
    _night(spark, lake, D1)
    monkeypatch.setattr(snapshot, "CACHE_FROM_RESIDENTS", 0)
    _night(spark, cached, D1)
    _assert_tables_equal(lake, cached, D1)


def test_a_large_citys_roll_exceptions_equal_a_small_citys(spark, tmp_path, monkeypatch):
    """A large city caches its profiles (the scored households are cached at every size)
    and holds the roll's few rows with nobody registered, matching the registry by their
    persons; the recipients' city (one roll exception on 11-23: G, deceased) with the
    threshold lowered gives the same tables as without."""
    import shutil

    from pipelines import snapshot

    landing, lake, cached = tmp_path / "landing", tmp_path / "lake", tmp_path / "cached"
    ids = recipients_city(landing)
    day = date(2026, 11, 23)
    ingest(spark, Lake(lake), landing, CONTRACTS, as_of=day)
    shutil.copytree(lake, cached)
    build_snapshot(spark, Lake(lake), CONTRACTS, POLICY, INDICATORS, as_of=day, key=KEY)
    monkeypatch.setattr(snapshot, "CACHE_FROM_RESIDENTS", 0)
    build_snapshot(spark, Lake(cached), CONTRACTS, POLICY, INDICATORS, as_of=day, key=KEY)
    _assert_tables_equal(lake, cached, day, ("restricted/roll_exceptions",))
    exceptions = pd.read_parquet(cached / f"restricted/roll_exceptions/snapshot_date={day}")
    assert [(r.person_id, r.registry_status) for r in exceptions.itertuples()] == [(ids["G"], "deceased")]


def test_nights_with_the_state_equal_nights_computed_from_bronze(spark, city, tmp_path):
    """Two nights in order with the state, against each computed with --full in a copy of
    the same landed lake: every published table equal, row for row."""
    import shutil

    _, lake, _ = city
    reference = tmp_path / "reference"
    shutil.copytree(lake, reference)
    for day in (D1, D2):
        _night(spark, lake, day)
        _night(spark, reference, day, full=True)
        _assert_tables_equal(lake, reference, day)
