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

# The modules that share the session's sample_nights run on one test worker.
SAMPLE_MODULES = {"test_cluster", "test_published", "test_sample_end_to_end"}
# Roughly how long the slow modules take on 2 cores (seconds), for the scheduler's order.
MODULE_SECONDS = {"sample": 600, "test_publishing": 260, "test_bench": 180, "test_flows": 175,
                  "test_monitoring_nights": 150, "test_ingest": 80}
SAMPLE_KEY = "test-pseudonym-key"
SAMPLE_DATES = [date(2026, 11, 27), date(2026, 11, 28)]  # the sample has daily settlements from 11-22

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist: each test module runs whole on one worker (its module fixtures are
    computed once), and the modules sharing the sample's nights run on the same one."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
            return "sample" if module in SAMPLE_MODULES else module

        def _assign_work_unit(self, node) -> None:
            # The longest first, so that the two workers finish together.
            longest = max(self.workqueue, key=lambda scope: MODULE_SECONDS.get(scope, 0))
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def prefect_home(tmp_path_factory):
    """A Prefect home (and database) per test worker: the temporary Prefect servers that
    `lipmon run` processes start would otherwise share one SQLite database across workers."""
    home = tmp_path_factory.getbasetemp() / f"prefect-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    home.mkdir(exist_ok=True)
    before = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("PREFECT_HOME", None)
    else:
        os.environ["PREFECT_HOME"] = before


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
