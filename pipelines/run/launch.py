"""Launching a Spark step: in this process, or as a `spark-submit` of its own against any
master.

By default the nightly flow runs every step in its own process (`local[2]`, or a cluster
master in client mode). With `--spark-submit` (or LIPMON_SPARK_SUBMIT=1) each Spark step
(ingest, snapshot, relink, push) is instead a spark-submit of the packaged entry point
(pipelines/jobs/lipmon_step.py, the same as `jobs/<step>.py` of a checkout):

    spark-submit --master M --py-files lipmon-<version>.zip [LIPMON_SPARK_SUBMIT_OPTIONS]
                 pipelines/jobs/lipmon_step.py <step> --date D --landing L --lake K [--config C]
                 --inputs <upstream results>.json --result <step result>.json

The code travels the standard way, as a zip on `--py-files`; the contracts and the
configuration are files named by the job's arguments and LIPMON_SCHEMAS. The job writes
its result as JSON, which the flow reads back, so the manifest is the same in both modes,
plus where each step ran (master, application, executors). The submission's log goes to
`runs/D/submit/<step>.log`; lipmon's own progress lines are echoed to the caller.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pyspark

from pipelines.contracts.files import schemas_dir
from pipelines.lake import city_residents, read_json, write_json
from pipelines.quality.gx_runner import load_gx
from pipelines.run.package import package
from pipelines.run.params import Locations, RunParameters
from pipelines.run.steps import STEPS, Result, spark_session
from pipelines.settings import Settings
from pipelines.spark import DEFAULT_MASTER, driver_environment, driver_java_options, driver_memory, find_java_home
from pipelines.storage import Location, is_remote

log = logging.getLogger(__name__)


class SubmitFailed(RuntimeError):
    pass


def run_step(name: str, params: RunParameters, *inputs: Any) -> Result:
    """One step, in this process or through spark-submit as the parameters say."""
    step = STEPS[name]
    if params.spark_submit and step.spark:
        return submit_step(name, params, inputs)
    return step.run(params, *inputs)


def warm_up(params: Locations) -> threading.Thread | None:
    """Start, in a thread of its own, what the in-process steps meet first, while the
    caller starts Prefect (its temporary server takes seconds): the Spark session, whose
    JVM takes seconds to start, then Great Expectations, seconds to import. The steps get
    the same session (`build_spark` gets the one this started, or waits for it). A failure
    here is left to the step that needs the session, which meets it again and reports it.
    Nothing to warm when the steps are spark-submits of their own."""
    if params.spark_submit:
        return None

    def start() -> None:
        try:
            spark_session(params.settings())
            load_gx()
        except Exception as exc:  # the step that needs it reports it
            log.debug("warming up: %s", exc)

    thread = threading.Thread(target=start, name="lipmon-warm-up", daemon=True)
    thread.start()
    return thread


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
    candidates.append(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SubmitFailed(f"spark-submit not found (looked at {', '.join(map(str, candidates))})")


def entry_point() -> Path:
    """The packaged spark-submit entry point of a step."""
    return Path(str(resources.files("pipelines.jobs").joinpath("lipmon_step.py")))


def submit_command(step: str, params: RunParameters, inputs: Location, result: Location) -> list[str]:
    """The spark-submit command line of one step: ours first, the operator's options after
    (so theirs win), then the job and its arguments."""
    settings = params.settings()
    residents = city_residents(settings.landing, settings.lake)
    log4j = resources.files("pipelines").joinpath("log4j2.properties")
    return [
        str(spark_submit_executable()),
        "--master",
        settings.master or DEFAULT_MASTER,
        "--name",
        f"lipmon-{step}-{params.snapshot_date.isoformat()}",
        "--py-files",
        str(_session_package()),
        "--driver-memory",
        driver_memory(residents),
        "--conf",
        f"spark.driver.extraJavaOptions=-Dlog4j.configurationFile=file:{log4j} {driver_java_options(residents)}",
        *shlex.split(os.environ.get("LIPMON_SPARK_SUBMIT_OPTIONS", "")),
        str(entry_point()),
        step,
        "--date",
        params.snapshot_date.isoformat(),
        "--landing",
        str(settings.landing),
        "--lake",
        str(settings.lake),
        *(["--config", str(settings.config)] if settings.config else []),
        *(["--full"] if params.full else []),
        "--inputs",
        str(inputs),
        "--result",
        str(result),
    ]


def _environment(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **driver_environment(city_residents(settings.landing, settings.lake))}
    env.setdefault("JAVA_HOME", str(find_java_home()))
    # The driver runs this Python (with lipmon's dependencies) and finds the contracts here.
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("LIPMON_SCHEMAS", str(schemas_dir().absolute()))
    env.setdefault("LIPMON_CONTRACTS", str(settings.contracts_dir))
    env.setdefault("LIPMON_INDICATORS", str(settings.indicators_dir))
    return env


def submit_step(step: str, params: RunParameters, inputs: tuple[Any, ...] = ()) -> Result:
    """Run one step through spark-submit and return its result, as the in-process step would."""
    settings = params.settings()
    folder = settings.lake / "runs" / params.snapshot_date.isoformat() / "submit"
    folder.mkdir(parents=True, exist_ok=True)
    inputs_file, result_file, log_file = (
        folder / f"{step}.inputs.json",
        folder / f"{step}.result.json",
        folder / f"{step}.log",
    )
    # The log is written as it comes, so locally; where the lake is remote it is copied there after.
    local_log = Path(tempfile.mkdtemp(prefix="lipmon-submit-")) / log_file.name if is_remote(log_file) else log_file
    write_json(inputs_file, {"inputs": list(inputs)})
    result_file.unlink(missing_ok=True)
    command = submit_command(step, params, inputs_file, result_file)
    log.info("%s: spark-submit to %s; log %s", step, command[command.index("--master") + 1], log_file)
    reason = ""
    with open(local_log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_environment(settings)
        )
        assert process.stdout is not None
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
