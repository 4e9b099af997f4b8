"""`lipmon bench`: how long a night takes and how much memory it needs, on a generated city.

For each city size the benchmark
1. generates the city with the project's generator into a cache folder named by its
   parameters (households, seed, date, generator version), reused while it exists;
2. measures a *cold run*: an empty lake, every delivery of the year landed, then the
   snapshot of date D (`lipmon run --date D`);
3. measures a *steady night*: the next day's deliveries only (the residents snapshot of
   D+1, made ready here, and a day of settlements), then the snapshot of D+1; with
   `steady_repeats` above 1 the same night runs again on a copy of the lake as the cold run
   left it, and the result gives every run, the median and the spread;
and writes one JSON result: wall time of every step (from the run's manifest), rows per
second of ingest, peak resident memory of the whole process tree (Python, the Prefect
server it starts and the JVM), bytes and file counts of every output table, the machine
and the versions.

Each run is a separate `lipmon run` process, as an operator would start it, so nothing
stays warm between runs and the memory measured is that of a real night.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from pipelines.generate import generate_landing
from pipelines.lake import Lake
from pipelines.run.manifest import versions
from pipelines.tables import PUSH_TABLES, SNAPSHOT_TABLES, source_tables

GENERATOR_VERSION = 3  # bump when the generator's output changes, so stale caches are not reused
SCALING_HOUSEHOLDS = (250_000, 500_000, 1_000_000, 2_000_000)
AS_OF = date(2026, 11, 28)


def cached_city(cache: Path, households: int, seed: int, as_of: date) -> Path:
    """The generated landing folder for these parameters, generated once."""
    landing = cache / f"city-{households}-seed{seed}-{as_of.isoformat()}-gen{GENERATOR_VERSION}"
    done = landing / "_GENERATED.json"
    if not done.exists():
        shutil.rmtree(landing, ignore_errors=True)
        started = time.monotonic()
        summary = generate_landing(landing, households, seed=seed, as_of=as_of)
        summary["seconds"] = round(time.monotonic() - started, 2)
        done.write_text(json.dumps(summary, indent=2, default=str))
    # The steady night's registry snapshot: the generator leaves it not ready (it is the
    # delivery still being written on D); the benchmark delivers it for D+1.
    (landing / "residents" / (as_of + timedelta(days=1)).isoformat() / "_READY").touch()
    return landing


PF_FORKNOEXEC = 0x40  # a process's flag (/proc/<pid>/stat, field 9): forked, not yet exec'd


def _tree_rss_by_kind(root: int) -> dict[str, int]:
    """Resident memory of a process and all its descendants, from /proc, in bytes by kind
    of process (`process_kind`)."""
    processes = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/statm") as fh:
                statm = tuple(int(x) for x in fh.read().split())
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        processes[int(entry.name)] = (int(fields[1]), statm, bool(int(fields[6]) & PF_FORKNOEXEC))
    # Only a JVM's child that has not run its own program yet is its copy (a Python
    # daemon's forked workers run on without one, in pages of their own).
    processes = {
        pid: (parent, statm, not_exec and process_kind(_command_line(parent)) == "jvm")
        for pid, (parent, statm, not_exec) in processes.items()
    }
    page = os.sysconf("SC_PAGE_SIZE")
    by_kind: dict[str, int] = {}
    for pid, pages in tree_rss_pages_by_process(processes, root).items():
        kind = "lipmon" if pid == root else process_kind(_command_line(pid))
        by_kind[kind] = by_kind.get(kind, 0) + pages * page
    return by_kind


def _command_line(pid: int) -> list[str]:
    """A process's program and arguments (empty if it has ended)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read(4096).decode(errors="replace").split("\0")
    except OSError:
        return []


def process_kind(command: list[str]) -> str:
    """What a process of a night's tree is, from its command line: the JVM, Prefect's
    temporary server, Spark's Python workers, or another."""
    program = Path(command[0]).name if command and command[0] else ""
    if program == "java":
        return "jvm"
    if "uvicorn" in command and any("prefect" in arg for arg in command):
        return "prefect server"
    if any(arg.startswith("pyspark.") for arg in command):
        return "spark python workers"
    return "other"


def tree_rss_pages_by_process(processes: dict[int, tuple[int, tuple[int, ...], bool]], root: int) -> dict[int, int]:
    """Resident pages of `root` and of each of its descendants, given each process's parent,
    /proc statm (size, resident, shared, text, lib, data, dirty, in pages) and whether it is
    a copy of its parent: a JVM's child that the kernel marks as forked and not yet running
    a program of its own (PF_FORKNOEXEC).

    Java starts every subprocess so: the child shares its parent's pages until it runs its
    program, and is counted once, with the parent, not twice (it is left out). The mark is
    set at the fork and read with the parent's pid, so no comparison of sizes read a moment
    apart is needed (the bench once used one, and counted a young JVM twice)."""
    pages = {}
    for pid, (_parent, statm, copy) in processes.items():
        p = pid
        while p not in (root, 0, 1) and p in processes:
            p = processes[p][0]
        if p != root:
            continue
        if pid != root and copy:
            continue
        pages[pid] = statm[1]
    return pages


def measured(command: list[str], log_file: Path, env: dict[str, str] | None = None, interval: float = 0.5) -> dict:
    """Run a command, sampling the memory of its process tree: wall time, peak memory, and
    the memory of each kind of process at that peak."""
    started = time.monotonic()
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        peak: dict[str, int] = {}
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                now = _tree_rss_by_kind(process.pid)
                if sum(now.values()) > sum(peak.values()):
                    peak = now
                stop.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        stop.set()
        sampler.join()
    return {
        "exit_code": code,
        "wall_seconds": round(time.monotonic() - started, 2),
        "peak_tree_rss_bytes": sum(peak.values()),
        "peak_rss_bytes_by_process": dict(sorted(peak.items(), key=lambda kv: -kv[1])),
        "log": str(log_file),
    }


def lake_usage(lake: Path) -> dict[str, dict]:
    """Bytes and Parquet file count of every table in the lake (zone/table)."""
    usage = {}
    at = Lake(lake)
    for table in (*source_tables(at.sources()), *SNAPSHOT_TABLES, *PUSH_TABLES):
        folder = at.path(table)
        if not isinstance(folder, Path) or not folder.is_dir():
            continue
        files = [f for f in folder.rglob("*") if f.is_file()]
        usage[table.id] = {
            "bytes": sum(f.stat().st_size for f in files),
            "parquet_files": sum(1 for f in files if f.suffix == ".parquet"),
        }
    return usage


def _night(landing: Path, lake: Path, day: date, work: Path, extra_env: dict[str, str], run_options: list[str]) -> dict:
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "run",
        "--date",
        day.isoformat(),
        "--landing",
        str(landing),
        "--lake",
        str(lake),
        *run_options,
    ]
    result = measured(command, work / f"run-{day.isoformat()}.log", extra_env)
    manifest = json.loads((lake / "runs" / day.isoformat() / "manifest.json").read_text())
    if result["exit_code"] != 0:
        raise RuntimeError(f"lipmon run --date {day} failed ({manifest.get('error')}); see {result['log']}")
    landed = [d for d in manifest["ingest"]["deliveries"] if d["status"] == "landed"]
    rows = sum(d["rows_read"] for d in landed)
    ingest_seconds = manifest["durations"].get("ingest") or 0
    by_source: dict[str, int] = {}
    for d in landed:
        by_source[d["source"]] = by_source.get(d["source"], 0) + d["rows_read"]
    return {
        **result,
        "step_seconds": manifest["durations"],
        "deliveries_landed": len(landed),
        "rows_landed": rows,
        "rows_landed_by_source": by_source,
        "ingest_rows_per_second": round(rows / ingest_seconds) if ingest_seconds else None,
        "households": manifest["snapshot"]["households"],
        "alerts": manifest["snapshot"]["alerts"],
    }


def machine() -> dict:
    memory = None
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return {
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def steady_spread(nights: list[dict]) -> dict:
    """Median and spread of repeated runs of one night."""
    walls = sorted(n["wall_seconds"] for n in nights)
    peaks = [n["peak_tree_rss_bytes"] for n in nights]
    return {
        "runs": len(nights),
        "wall_seconds": walls,
        "median_wall_seconds": statistics.median_low(walls),
        "min_wall_seconds": walls[0],
        "max_wall_seconds": walls[-1],
        "spread_seconds": round(walls[-1] - walls[0], 2),
        "max_peak_tree_rss_bytes": max(peaks),
    }


def bench_city(
    households: int,
    work: Path,
    *,
    seed: int = 7,
    as_of: date = AS_OF,
    driver_memory: str | None = None,
    run_options: list[str] | None = None,
    steady_repeats: int = 1,
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    landing = cached_city(work / "cities", households, seed, as_of)
    generated = json.loads((landing / "_GENERATED.json").read_text())
    lake = work / f"lake-{households}"
    shutil.rmtree(lake, ignore_errors=True)
    env = {"LIPMON_DRIVER_MEMORY": driver_memory} if driver_memory else {}
    cold = _night(landing, lake, as_of, work, env, run_options or [])
    after_cold = work / f"lake-{households}-after-cold"
    if steady_repeats > 1:  # a real copy: the push ledger and outbox are written in place
        shutil.rmtree(after_cold, ignore_errors=True)
        shutil.copytree(lake, after_cold, symlinks=True)
    nights = []
    for repeat in range(steady_repeats):
        if repeat:
            shutil.rmtree(lake)
            shutil.copytree(after_cold, lake, symlinks=True)
        nights.append(_night(landing, lake, as_of + timedelta(days=1), work, env, run_options or []))
    shutil.rmtree(after_cold, ignore_errors=True)
    # The median run stands for the steady night (the lower median: the faster of two).
    spread = steady_spread(nights)
    steady = next(n for n in nights if n["wall_seconds"] == spread["median_wall_seconds"])
    result = {
        "households": households,
        "seed": seed,
        "snapshot_date": as_of.isoformat(),
        "landing": str(landing),
        "generated_rows": generated.get("rows_total"),
        "generate_seconds": generated.get("seconds"),
        "cold_run": cold,
        "steady_night": steady,
        **({"steady_nights": nights, "steady_spread": spread} if steady_repeats > 1 else {}),
        "outputs": lake_usage(lake),
        "machine": machine(),
        "versions": versions(),
        "bench_seconds": round(time.monotonic() - started, 2),
    }
    return result


def scaling_table(results: list[dict]) -> list[dict]:
    """Cost per household relative to the smallest city: 1.0 means linear growth."""
    base = results[0]

    def growth(r: dict, night: str) -> float:
        linear = base[night]["wall_seconds"] * r["households"] / base["households"]
        return round(r[night]["wall_seconds"] / linear, 2)

    return [
        {
            "households": r["households"],
            "cold_seconds": r["cold_run"]["wall_seconds"],
            "steady_seconds": r["steady_night"]["wall_seconds"],
            "cold_peak_gb": round(r["cold_run"]["peak_tree_rss_bytes"] / 1e9, 2),
            "cold_growth_vs_linear": growth(r, "cold_run"),
            "steady_growth_vs_linear": growth(r, "steady_night"),
        }
        for r in results
    ]


def run_bench(
    households: list[int],
    work: Path,
    out: Path,
    *,
    seed: int = 7,
    driver_memory: str | None = None,
    run_options: list[str] | None = None,
    steady_repeats: int = 1,
) -> dict:
    results = [
        bench_city(
            n, work, seed=seed, driver_memory=driver_memory, run_options=run_options, steady_repeats=steady_repeats
        )
        for n in households
    ]
    payload = {"results": results}
    if len(results) > 1:
        payload["scaling"] = scaling_table(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    return payload
