"""What spark-submit mode ships and how its failures read: the code and contracts zips
(reproducible, importable and readable from a zip, as executors and a cluster driver see
them), the submit command line, and a failing submitted step's one-line reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

from pipelines.run.job import job_main
from pipelines.run.launch import SubmitFailed, submit_command, submit_step, warm_up
from pipelines.run.package import package
from pipelines.run.params import RunParameters
from pipelines.settings import PROJECT_ROOT

D = date(2026, 11, 28)


def test_package_is_reproducible_and_holds_the_code_and_the_contracts(tmp_path):
    first, second = package(tmp_path / "a"), package(tmp_path / "b")
    for kind in ("py_files", "schemas"):
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind
    code = set(zipfile.ZipFile(first["py_files"]).namelist())
    assert {
        "pipelines/__init__.py",
        "pipelines/run/launch.py",
        "pipelines/jobs/lipmon_step.py",
        "pipelines/log4j2.properties",
        "pipelines/policy/defaults.yaml",
        "pipelines/ingest/rows.py",
    } <= code
    assert not [n for n in code if "__pycache__" in n or n.endswith(".pyc")]
    contracts = set(zipfile.ZipFile(first["schemas"]).namelist())
    assert {
        "sources/residents.yaml",
        "sources/medical_settlements.yaml",
        "sources/social_security.yaml",
        "outputs/alerts.yaml",
        "outputs/household_profile.yaml",
    } <= contracts


def test_the_code_runs_from_the_zip_with_the_contracts_from_the_archive(tmp_path):
    built = package(tmp_path / "dist")
    schemas = tmp_path / "schemas"  # what --archives lipmon-schemas.zip#schemas unpacks
    zipfile.ZipFile(built["schemas"]).extractall(schemas)
    probe = (
        "import pipelines, pipelines.run.flows\n"
        "from pipelines.contracts import load_contracts\n"
        "from pipelines.contracts.outputs import output_contract\n"
        "from pipelines.policy import load_policy\n"
        "from pipelines.settings import Settings\n"
        "print(pipelines.__file__)\n"
        "print(sorted(load_contracts(Settings.resolve().contracts_dir)))\n"
        "print(len(output_contract('alerts').columns), load_policy(None).digest()[:8])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(built["py_files"]), "LIPMON_SCHEMAS": str(schemas)}
    env.pop("LIPMON_CONTRACTS", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    where, sources, outputs = done.stdout.splitlines()
    assert where.startswith(str(built["py_files"]))  # imported from the zip, not the checkout
    assert sources == str(sorted(p.stem for p in (PROJECT_ROOT / "schemas/sources").glob("*.yaml")))
    assert "'businesses'" in sources and "'residents'" in sources
    assert int(outputs.split()[0]) > 10


def test_submit_command_puts_the_operator_options_after_ours_and_absolute_paths_for_the_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIPMON_SPARK_SUBMIT_OPTIONS", "--executor-memory 3g --conf spark.sql.shuffle.partitions=64")
    monkeypatch.setenv("LIPMON_PY_FILES", str(package(tmp_path / "dist")["py_files"]))
    params = RunParameters(snapshot_date=D, lake="relative-lake", master="spark://10.0.0.1:7077", spark_submit=True)
    cmd = submit_command("snapshot", params, tmp_path / "in.json", tmp_path / "out.json")
    assert cmd[0].endswith("spark-submit")
    assert cmd[cmd.index("--master") + 1] == "spark://10.0.0.1:7077"
    assert cmd[cmd.index("--name") + 1] == f"lipmon-snapshot-{D}"
    assert cmd[cmd.index("--py-files") + 1] == os.environ["LIPMON_PY_FILES"]
    job = next(i for i, a in enumerate(cmd) if a.endswith("pipelines/jobs/lipmon_step.py"))
    assert Path(cmd[job]).is_file()  # the entry point installed with the package
    assert cmd.index("--executor-memory") < job and cmd.index("--py-files") < cmd.index("--executor-memory")
    assert cmd[cmd.index("--lake") + 1] == str(tmp_path / "relative-lake")  # executors have another cwd
    assert cmd[job + 1 : job + 4] == ["snapshot", "--date", D.isoformat()]


@pytest.mark.system
def test_a_submitted_step_that_fails_says_why_in_one_line_and_where_its_log_is(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPMON_DRIVER_MEMORY", "1g")
    lake = tmp_path / "lake"
    params = RunParameters(snapshot_date=D, lake=str(lake), master="local[1]", spark_submit=True)
    with pytest.raises(SubmitFailed) as failed:
        submit_step("snapshot", params)  # nothing landed: the job's quality gate refuses
    message = str(failed.value)
    assert "spark-submit of snapshot exited 1: lipmon snapshot: residents: no delivery landed on or before" in message
    log = lake / f"runs/{D}/submit/snapshot.log"
    assert str(log) in message and log.stat().st_size > 0
    assert not (lake / f"runs/{D}/submit/snapshot.result.json").exists()


def test_a_job_given_a_bad_date_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        job_main("ingest", ["--date", "2026-13-01"])
    assert exited.value.code == 2


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [([], None, False), (["--spark-submit"], None, True), ([], "1", True), ([], "no", False)],
)
def test_spark_submit_mode_from_the_option_or_the_environment(argv, env, expected, monkeypatch):
    from pipelines.cli import build_parser, run_parameters

    if env is None:
        monkeypatch.delenv("LIPMON_SPARK_SUBMIT", raising=False)
    else:
        monkeypatch.setenv("LIPMON_SPARK_SUBMIT", env)
    args = build_parser().parse_args(["run", "--date", D.isoformat(), *argv])
    assert run_parameters(args).spark_submit is expected


def test_jobs_folder_has_an_entry_point_per_spark_step():
    from pipelines.run.steps import SPARK_STEPS
    from pipelines.settings import PROJECT_ROOT

    for step in (*SPARK_STEPS, "night"):
        text = (PROJECT_ROOT / "jobs" / f"{step}.py").read_text()
        assert f'job_main("{step}", sys.argv[1:])' in text, step


def _registry(landing: Path, day: str, lines: int) -> Path:
    """A registry extract of `lines` data lines (a header and one short line each)."""
    folder = landing / "residents" / day
    folder.mkdir(parents=True)
    (folder / "residents_1.csv").write_bytes(b"header\n" + b"x\n" * lines)
    return landing


def test_the_driver_heap_follows_the_size_of_the_registry_unless_the_operator_sets_it(tmp_path, monkeypatch):
    from pipelines.lake import city_residents
    from pipelines.spark import driver_memory
    from pipelines.storage import lake_location

    monkeypatch.delenv("LIPMON_DRIVER_MEMORY", raising=False)
    small = _registry(tmp_path / "small", "2026-11-28", 999_999)
    large = _registry(tmp_path / "large", "2026-11-28", 1_000_000)
    assert city_residents(small, None) == 999_999
    assert driver_memory(city_residents(small, None)) == "1g"
    assert driver_memory(city_residents(large, None)) == "4g"
    assert driver_memory(None) == "4g"  # nothing to measure the city by (tests, a lake read alone)
    assert driver_memory(city_residents(tmp_path / "missing", None)) == "4g"

    # Only the newest registry extract counts: not the older ones kept, not the other
    # sources (two payments files of 600 MB, sparse).
    _registry(small, "2026-11-21", 1_500_000)
    payments = small / "social_security" / "2026-11-10"
    payments.mkdir(parents=True)
    for part in ("a.csv", "b.csv"):
        with open(payments / part, "wb") as fh:
            fh.truncate(600 * 1024 * 1024)
    assert driver_memory(city_residents(small, None)) == "1g"

    # A landing folder emptied after landing: the lake's record of its newest registry.
    lake = tmp_path / "lake"
    record = lake / "bronze" / "residents" / "extract_date=2026-11-28" / "_delivery.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"rows_read": 1_200_000, "rows_kept": 1_199_000}), encoding="utf-8")
    emptied = tmp_path / "emptied"
    emptied.mkdir()
    assert city_residents(emptied, lake_location(str(lake))) == 1_200_000
    assert driver_memory(city_residents(small, lake_location(str(lake)))) == "4g"  # the larger of the two

    params = RunParameters(snapshot_date=D, lake=str(tmp_path / "lake2"), landing=str(small))
    cmd = submit_command("ingest", params, tmp_path / "in.json", tmp_path / "out.json")
    assert cmd[cmd.index("--driver-memory") + 1] == "1g"
    params = RunParameters(snapshot_date=D, lake=str(lake), landing=str(emptied))
    cmd = submit_command("ingest", params, tmp_path / "in.json", tmp_path / "out.json")
    assert cmd[cmd.index("--driver-memory") + 1] == "4g"
    monkeypatch.setenv("LIPMON_DRIVER_MEMORY", "6g")
    assert driver_memory(city_residents(small, None)) == "6g"
    cmd = submit_command("ingest", params, tmp_path / "in.json", tmp_path / "out.json")
    assert cmd[cmd.index("--driver-memory") + 1] == "6g"


def test_a_small_heap_comes_with_a_small_jvm_and_the_operators_heap_with_the_defaults(tmp_path, monkeypatch):
    from pipelines.lake import city_residents
    from pipelines.run.launch import _environment
    from pipelines.spark import driver_environment, driver_java_options

    monkeypatch.delenv("LIPMON_DRIVER_MEMORY", raising=False)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    small = city_residents(_registry(tmp_path / "small", "2026-11-28", 3000), None)
    small_options = "-XX:-DontCompileHugeMethods -XX:+UseSerialGC -Xmn96m"
    assert driver_java_options(small) == small_options
    assert driver_java_options(None) == "-XX:-DontCompileHugeMethods"
    assert driver_environment(small) == {"MALLOC_ARENA_MAX": "2"}
    assert driver_environment(None) == {}
    params = RunParameters(snapshot_date=D, lake=str(tmp_path / "lake"), landing=str(tmp_path / "small"))
    cmd = submit_command("ingest", params, tmp_path / "in.json", tmp_path / "out.json")
    java = cmd[cmd.index("--conf") + 1]
    assert java.startswith("spark.driver.extraJavaOptions=-Dlog4j.configurationFile=file:")
    assert java.endswith(" " + small_options)
    assert _environment(params.settings())["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the environment's own value wins
    assert driver_environment(small) == {}
    assert _environment(params.settings())["MALLOC_ARENA_MAX"] == "4"
    monkeypatch.setenv("LIPMON_DRIVER_MEMORY", "1g")  # the operator's heap: the JVM's defaults
    assert driver_java_options(small) == "-XX:-DontCompileHugeMethods"
    cmd = submit_command("ingest", params, tmp_path / "in.json", tmp_path / "out.json")
    assert cmd[cmd.index("--conf") + 1].endswith(" -XX:-DontCompileHugeMethods")


def test_warming_up_starts_nothing_when_the_steps_are_submitted(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("pipelines.run.launch.spark_session", lambda settings: started.append(settings))
    params = RunParameters(snapshot_date=D, lake=str(tmp_path / "lake"), spark_submit=True)
    assert warm_up(params) is None
    assert started == []


def test_a_failing_warm_up_is_left_to_the_step_that_needs_the_session(tmp_path, monkeypatch):
    """The warm-up's thread swallows what fails; the step starting the session meets it again."""
    lake = tmp_path / "lake"
    started = []

    def no_java(settings):
        started.append(settings.lake)
        raise RuntimeError("no Java 17+ found")

    monkeypatch.setattr("pipelines.run.launch.spark_session", no_java)
    thread = warm_up(RunParameters(snapshot_date=D, lake=str(lake)))
    assert thread is not None
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert started == [lake]
