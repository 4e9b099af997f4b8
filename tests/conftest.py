"""Shared fixtures: one local Spark session for the whole test run (one core, few shuffle
partitions, no UI), one Prefect test server for the whole run, temporary landing folders
and lakes per test, and the bundled sample's night run by the `lipmon` command."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_ROOT

SAMPLE_KEY = "test-pseudonym-key"
# The sample's night: the README's date, every delivery up to it landed at once.
SAMPLE_DATE = date(2026, 11, 28)
QUIET = {"GX_ANALYTICS_ENABLED": "False", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def pytest_configure(config):
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)


def pytest_terminal_summary(terminalreporter):
    """What the delivery fuzzing tried and found, when it ran."""
    fuzz = next((m for name, m in list(sys.modules.items()) if name.endswith("test_fuzz_deliveries")), None)
    if fuzz is not None and fuzz.TRIED:
        terminalreporter.write_line(f"fuzzed deliveries: corruptions tried {dict(sorted(fuzz.TRIED.items()))}")
        terminalreporter.write_line(f"fuzzed deliveries: outcomes {dict(sorted(fuzz.OUTCOMES.items()))}")


@pytest.fixture(scope="session")
def prefect_server():
    """One Prefect test server for the whole session: the flows run in the test process use
    it, and so do the `lipmon` commands the tests start (through PREFECT_API_URL), instead of
    each starting a temporary server of its own."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        before = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = before


@pytest.fixture(scope="session")
def spark():
    """One local Spark for the session, on both cores of the reference machine;
    LIPMON_TEST_SPARK_MASTER=local[1] runs the suite on one (no test assumes either)."""
    from pipelines.spark import build_spark

    master = os.environ.get("LIPMON_TEST_SPARK_MASTER", "local[2]")
    session = build_spark(
        master,
        app_name="lipmon-tests",
        extra={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "1" if master == "local[1]" else "2",
        },
    )
    yield session
    session.stop()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def lipmon_command() -> list[str]:
    script = Path(sys.executable).parent / "lipmon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]


def run_sample(lake: Path, days: list[date], landing: Path | None = None) -> list[str]:
    """Nights run as a user runs them (`lipmon run`, local mode, in its own process) for
    `days` in order into `lake`, of the bundled sample or of `landing`: what each printed."""
    output = []
    for day in days:
        code, printed = lipmon_run(lake, landing, SAMPLE_KEY, day=day)
        assert code == 0, printed[-3000:]
        output.append(printed)
    return output


PYTHON_WORKERS_LOG = "python-workers.log"


def logging_python(folder: Path, log: Path) -> Path:
    """A script in `folder` that runs this Python and first writes its arguments to `log`:
    as PYSPARK_PYTHON, it logs every Python worker that Spark starts."""
    script = folder / "python-worker"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture(scope="session")
def sample_night(tmp_path_factory, prefect_server):
    """The sample's night of SAMPLE_DATE in a fresh lake: the lake and what the run printed.

    Spark's Python workers are started through a script that first writes a line to
    PYTHON_WORKERS_LOG beside the lake (the night should start none)."""
    lake = tmp_path_factory.mktemp("sample-night") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYSPARK_PYTHON", str(logging_python(lake.parent, lake.parent / PYTHON_WORKERS_LOG)))
        [output] = run_sample(lake, [SAMPLE_DATE])
    return lake, output


@pytest.fixture(scope="session")
def small_city_night(tmp_path_factory, prefect_server) -> tuple[Path, Path]:
    """The small hand-written city (tests/deliveries) and its uninterrupted night of
    SAMPLE_DATE in process, with SAMPLE_KEY: the landing folder and the lake, which tests
    compare against or copy and must not change."""
    from tests.deliveries import small_city

    base = tmp_path_factory.mktemp("small-city-night")
    landing, lake = base / "landing", base / "lake"
    small_city(landing)
    night_in_process(lake, landing, SAMPLE_KEY)
    return landing, lake


def lipmon_run(
    lake: Path,
    landing: Path | None,
    key: str,
    *,
    day: date = SAMPLE_DATE,
    kill_at: str | None = None,
    config: Path | None = None,
) -> tuple[int, str]:
    """`lipmon run` from the checkout, in its own process group, of the bundled sample
    (`landing` None) or of `landing`; killed with SIGKILL at the named checkpoint
    (LIPMON_KILL_AT) if one is given: its exit code and what it printed. Output goes to a
    file, not a pipe, so that a killed run's orphans (its JVM) cannot hold the test up;
    they are killed with the group afterwards."""
    env = {**os.environ, "LIPMON_PSEUDONYM_KEY": key}
    for name in ("LIPMON_KILL_AT", "LIPMON_LANDING"):
        env.pop(name, None)
    if kill_at:
        env["LIPMON_KILL_AT"] = kill_at
    cmd = [*lipmon_command(), "run", "--date", day.isoformat(), "--lake", str(lake)]
    if landing is not None:
        cmd += ["--landing", str(landing)]
    if config:
        cmd += ["--config", str(config)]
    lake.parent.mkdir(parents=True, exist_ok=True)
    log = lake.parent / f"run-{day}-{kill_at or 'whole'}.log".replace(":", "_")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=900)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return code, log.read_text()


def night_in_process(
    lake: Path, landing: Path, key: str, *, day: date = SAMPLE_DATE, config: Path | None = None
) -> dict:
    """A night of the flow in this process (the session's Spark and Prefect server)."""
    from pipelines.pseudonym import ENV_KEY
    from pipelines.run.flows import nightly
    from pipelines.run.params import RunParameters

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, key)
        return nightly(
            RunParameters(
                snapshot_date=day, landing=str(landing), lake=str(lake), config=str(config) if config else None
            )
        )


def lake_contents(lake: Path) -> dict[str, list[str]]:
    """Every Parquet partition of the lake (bronze, quarantine, gold, restricted) as sorted
    rows, and the outbox's messages: what two lakes must agree on row for row."""
    import pandas as pd

    out: dict[str, list[str]] = {}
    for zone in ("bronze", "quarantine", "gold", "restricted"):
        for part in sorted((lake / zone).glob("*/*=*")):
            if not any(part.glob("*.parquet")):  # the push queue, outbox and ledger are JSON
                continue
            rows = pd.read_parquet(part).astype(str).to_dict("records")
            out[part.relative_to(lake).as_posix()] = sorted(json.dumps(r, sort_keys=True) for r in rows)
    out["outbox"] = sorted(
        line for path in (lake / "restricted/outbox").rglob("*.jsonl") for line in path.read_text().splitlines()
    )
    return out


@pytest.fixture
def no_automatic_broadcast(spark):
    """Spark broadcasts any small table by itself: switched off, a join without the hint is a shuffle."""
    keys = ("spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.autoBroadcastJoinThreshold")
    before = {k: spark.conf.get(k, None) for k in keys}
    for k in keys:
        spark.conf.set(k, "-1")
    yield
    for k, v in before.items():
        spark.conf.unset(k) if v is None else spark.conf.set(k, v)
