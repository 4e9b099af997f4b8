"""Shared fixtures: one local Spark session for the whole test run (one core, few shuffle
partitions, no UI), and temporary landing folders and lakes per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
