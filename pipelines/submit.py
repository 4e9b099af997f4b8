"""Running the Spark steps through `spark-submit`, against any master.

By default the nightly flow runs every step in its own process (`local[2]`, or a cluster
master in client mode). With `--spark-submit` (or LIPMON_SPARK_SUBMIT=1) each Spark step
(ingest, snapshot, relink, push) is instead a `spark-submit jobs/<step>.py` of its own:

    spark-submit --master M --py-files lipmon-<version>.zip [LIPMON_SPARK_SUBMIT_OPTIONS]
                 jobs/<step>.py --date D --landing L --lake K [--config C]
                 --inputs <upstream results>.json --result <step result>.json

The code travels the standard way, as a zip on `--py-files` (`package`); the contracts and
the configuration are files named by the job's arguments and LIPMON_SCHEMAS. The job
writes its result as JSON, which the flow reads back, so the manifest is the same in both
modes, plus where each step ran (master, application, executors). The submission's log
goes to `runs/D/submit/<step>.log`; lipmon's own progress lines are echoed to the caller.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pipelines
from pipelines.lake import read_json, write_json
from pipelines.settings import PROJECT_ROOT, schemas_dir
from pipelines.storage import is_remote, lake_location

log = logging.getLogger(__name__)

# A fixed timestamp for every zip entry: the same code gives the same package, byte for byte.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


class SubmitFailed(RuntimeError):
    pass


def _zip_tree(out: Path, entries: list[tuple[Path, str]]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, name in sorted(entries, key=lambda e: e[1]):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out


def package(out_dir: Path) -> dict[str, Path]:
    """The code zip for `--py-files` (the `pipelines` package with its data files, and
    flows.py) and the contracts zip for `--archives` (schemas/), both reproducible."""
    import flows

    source = Path(pipelines.__file__).parent
    code = [(p, f"pipelines/{p.relative_to(source).as_posix()}") for p in source.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml", ".properties")]
    code.append((Path(flows.__file__), "flows.py"))
    schemas = schemas_dir()
    contracts = [(p, p.relative_to(schemas).as_posix()) for p in schemas.rglob("*.yaml")]
    version = pipelines.__version__
    return {
        "py_files": _zip_tree(out_dir / f"lipmon-{version}.zip", code),
        "schemas": _zip_tree(out_dir / f"lipmon-schemas-{version}.zip", contracts),
    }


@lru_cache(maxsize=1)
def _session_package() -> Path:
    """The code zip this process submits with: LIPMON_PY_FILES if set, else built once."""
    given = os.environ.get("LIPMON_PY_FILES")
    if given:
        if not Path(given).is_file():
            raise SubmitFailed(f"LIPMON_PY_FILES={given}: no such file")
        return Path(given)
    return package(Path(tempfile.mkdtemp(prefix="lipmon-package-")))["py_files"]


def spark_submit_executable() -> Path:
    """SPARK_HOME's spark-submit where a Spark distribution is installed, else PySpark's own."""
    home = os.environ.get("SPARK_HOME")
    candidates = [Path(home) / "bin" / "spark-submit"] if home else []
    import pyspark

    candidates.append(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SubmitFailed(f"spark-submit not found (looked at {', '.join(map(str, candidates))})")


def jobs_dir() -> Path:
    found = Path(os.environ.get("LIPMON_JOBS", PROJECT_ROOT / "jobs"))
    if not (found / "night.py").is_file():
        raise SubmitFailed(f"the spark-submit entry points are not at {found}: set LIPMON_JOBS to the "
                           "project's jobs/ folder")
    return found


def submit_command(step: str, params, inputs: Path, result: Path) -> list[str]:
    """The spark-submit command line of one step: ours first, the operator's options after
    (so theirs win), then the job and its arguments."""
    from pipelines.spark import DEFAULT_MASTER

    settings = params.settings()
    log4j = resources.files("pipelines").joinpath("log4j2.properties")
    return [
        str(spark_submit_executable()),
        "--master", settings.master or DEFAULT_MASTER,
        "--name", f"lipmon-{step}-{params.snapshot_date.isoformat()}",
        "--py-files", str(_session_package()),
        "--driver-memory", os.environ.get("LIPMON_DRIVER_MEMORY", "4g"),
        "--conf", f"spark.driver.extraJavaOptions=-Dlog4j.configurationFile=file:{log4j} -XX:-DontCompileHugeMethods",
        *shlex.split(os.environ.get("LIPMON_SPARK_SUBMIT_OPTIONS", "")),
        str(jobs_dir() / f"{step}.py"),
        "--date", params.snapshot_date.isoformat(),
        "--landing", str(settings.landing), "--lake", str(settings.lake),
        *(["--config", str(settings.config)] if settings.config else []),
        "--inputs", str(inputs), "--result", str(result),
    ]


def _environment(settings) -> dict[str, str]:
    from pipelines.spark import find_java_home

    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(find_java_home()))
    # The driver runs this Python (with lipmon's dependencies) and finds the contracts here.
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("LIPMON_SCHEMAS", str(schemas_dir().absolute()))
    env.setdefault("LIPMON_CONTRACTS", str(settings.contracts_dir))
    return env


def submit_step(step: str, params, inputs: tuple = ()) -> dict:
    """Run one step through spark-submit and return its result, as the in-process step would."""
    settings = params.settings()
    folder = settings.lake / "runs" / params.snapshot_date.isoformat() / "submit"
    folder.mkdir(parents=True, exist_ok=True)
    inputs_file, result_file, log_file = (folder / f"{step}.inputs.json", folder / f"{step}.result.json",
                                          folder / f"{step}.log")
    # The log is written as it comes, so locally; where the lake is remote it is copied there after.
    local_log = Path(tempfile.mkdtemp(prefix="lipmon-submit-")) / log_file.name if is_remote(log_file) else log_file
    write_json(inputs_file, {"inputs": list(inputs)})
    result_file.unlink(missing_ok=True)
    command = submit_command(step, params, inputs_file, result_file)
    log.info("%s: spark-submit to %s; log %s", step, command[command.index("--master") + 1], log_file)
    reason = ""
    with open(local_log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=_environment(settings))
        for line in process.stdout:
            out.write(line)
            if " pipelines." in line:
                log.info("[%s] %s", step, line.rstrip())
            if line.startswith(f"lipmon {step}: "):
                reason = line.rstrip()
        code = process.wait()
    if local_log != log_file:
        log_file.write_bytes(local_log.read_bytes())
        shutil.rmtree(local_log.parent, ignore_errors=True)
    result = read_json(result_file)
    if code != 0 or result is None:
        raise SubmitFailed(f"spark-submit of {step} exited {code}: {reason or 'no result written'}; see {log_file}")
    return result


# ---------------------------------------------------------------- the job side (jobs/*.py)

def _job_parser(step: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"spark-submit jobs/{step}.py",
                                     description=f"The {step} step of lipmon, under spark-submit.")
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="snapshot date YYYY-MM-DD")
    parser.add_argument("--landing", help="landing folder (env LIPMON_LANDING)")
    parser.add_argument("--lake", help="lake: a folder or a Hadoop URI (env LIPMON_LAKE)")
    parser.add_argument("--config", help="configuration file (env LIPMON_CONFIG)")
    parser.add_argument("--inputs", help="JSON file with the results of the upstream steps")
    parser.add_argument("--result", help="write the step's result here as JSON")
    return parser


def spark_placement() -> dict:
    """Where the step ran: the master, the application, the executors it had and the
    shuffle partitions it used (the submission's setting wins over lipmon's default)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return {}
    sc = spark.sparkContext
    executors = sc._jsc.sc().getExecutorMemoryStatus().size()
    local = sc.master.startswith("local")
    return {"master": sc.master, "application_id": sc.applicationId,
            "executors": None if local else executors - 1,  # the driver is listed too
            "default_parallelism": sc.defaultParallelism,
            "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions"))}


def job_main(step: str, argv: list[str]) -> int:
    """Entry point of `jobs/<step>.py`: run the step, write its result, exit 0; or print one
    line `lipmon <step>: <reason>` and exit 1."""
    from pipelines import nightly as steps
    from pipelines.cli import _configure_logging

    args = _job_parser(step).parse_args(argv)
    _configure_logging()
    try:
        params = steps.RunParameters(snapshot_date=args.date, landing=args.landing, lake=args.lake,
                                     config=args.config)
        inputs = (read_json(lake_location(args.inputs)) or {}).get("inputs", []) if args.inputs else []
        if step == "night":
            from flows import nightly

            result = nightly(params)
        else:
            if step == "snapshot" and not inputs:  # submitted by hand: the gate's freshness check first
                inputs = [steps.step_quality_gate(params, {"failed": []})]
            result = {**steps.SPARK_STEPS[step](params, *inputs), "spark": spark_placement()}
        if args.result:
            write_json(lake_location(args.result), result)
        print(f"lipmon {step}: done{steps.describe(steps.STEP_NAMES.get(step, step), result)}")
        return 0
    except Exception as exc:  # one line for the caller; the traceback stays in the log
        log.exception("%s failed", step)
        print(f"lipmon {step}: {exc}".splitlines()[0], flush=True)
        return 1
