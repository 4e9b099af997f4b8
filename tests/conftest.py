"""Shared fixtures: one local Spark session for the whole test run (one core, few shuffle
partitions, no UI), temporary landing folders and lakes per test, and the bundled sample
run by the `lipmon` command for two nights (shared by the tests that need a real lake)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_ROOT

SAMPLE_KEY = "test-pseudonym-key"
SAMPLE_DATES = [date(2026, 11, 27), date(2026, 11, 28)]  # the sample has daily settlements from 11-22

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def spark():
    from pipelines.spark import build_spark

    session = build_spark("local[1]", app_name="lipmon-tests", extra={
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "1",
    })
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


@pytest.fixture(scope="session")
def sample_nights(tmp_path_factory):
    """The bundled sample run as a user runs it (`lipmon run`, local mode, in its own
    process) for SAMPLE_DATES in order: the lake and what each run printed."""
    lake = tmp_path_factory.mktemp("sample") / "lake"
    env = {**os.environ, "LIPMON_PSEUDONYM_KEY": SAMPLE_KEY, "LIPMON_LAKE": str(lake)}
    env.pop("LIPMON_LANDING", None)
    output = []
    for day in SAMPLE_DATES:
        done = subprocess.run([*lipmon_command(), "run", "--date", day.isoformat()], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        output.append(done.stdout + done.stderr)
    return lake, output
