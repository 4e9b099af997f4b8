"""A night on a real Spark standalone cluster: a master and a two-core worker on
127.0.0.1, started from the installed PySpark with `spark-class`, a `lipmon run
--spark-submit` against it (each Spark step a spark-submit with the code zip on
--py-files, two executors), and its outputs equal to the local-mode run of the same
deliveries row for row. The deliveries are the small hand-written city (tests/deliveries):
what is tested is where the work runs, not how much of it there is. The cluster is stopped
afterwards, also when the test fails.

The cluster's lake is a Hadoop URI, `viewfs://lipmon-test/lake`: Hadoop's mount-table
filesystem over a temporary folder, configured as a cluster's is, by a core-site.xml in
HADOOP_CONF_DIR for the client, the drivers and the executors. Python's own file
functions cannot reach it, so the run shows that every read, write and rename of the lake
went through Hadoop's FileSystem API, as on HDFS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pyspark
import pytest

from pipelines.settings import PROJECT_ROOT
from pipelines.spark import find_java_home
from tests.conftest import SAMPLE_DATE, SAMPLE_KEY, lipmon_command

pytestmark = pytest.mark.system

DAY = SAMPLE_DATE


@pytest.fixture(scope="module")
def landing(small_city_night) -> Path:
    return small_city_night[0]


@pytest.fixture(scope="module")
def local_lake(small_city_night) -> Path:
    """The same night in local mode (in process, the session's Spark on local[2])."""
    return small_city_night[1]


SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(SPARK_CLASS), *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


MOUNT = "lipmon-test"


@pytest.fixture(scope="module")
def viewfs_lake(tmp_path_factory) -> tuple[str, Path, Path]:
    """The lake's URI, the folder it is mounted on, and the HADOOP_CONF_DIR that says so."""
    work = tmp_path_factory.mktemp("viewfs")
    conf, folder = work / "hadoop-conf", work / "mounted"
    conf.mkdir()
    folder.mkdir()
    (conf / "core-site.xml").write_text(
        "<configuration>\n"
        f"  <property><name>fs.viewfs.mounttable.{MOUNT}.link./lake</name><value>{folder.as_uri()}</value></property>\n"
        "</configuration>\n"
    )
    return f"viewfs://{MOUNT}/lake", folder, conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, viewfs_lake):
    """spark://127.0.0.1:<port> with one worker of two cores and 3 GB: room for two
    one-core executors (the operations guide starts two workers by hand)."""
    work = tmp_path_factory.mktemp("cluster")
    port, ui = _free_port(), _free_port()
    env = {
        **os.environ,
        "JAVA_HOME": str(find_java_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(work),
        "SPARK_WORKER_DIR": str(work / "work"),
        "HADOOP_CONF_DIR": str(viewfs_lake[2]),
    }
    master = f"spark://127.0.0.1:{port}"
    processes = [
        _start(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            work / "master.log",
            env,
        )
    ]
    try:
        processes.append(
            _start(
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "3g",
                    "--webui-port",
                    str(_free_port()),
                    "--work-dir",
                    str(work / "worker"),
                    master,
                ],
                work / "worker.log",
                env,
            )
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                state = httpx.get(f"http://127.0.0.1:{ui}/json/", timeout=5).json()
                if state.get("aliveworkers") == 1:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert all(p.poll() is None for p in processes), "a cluster process exited; see " + str(work)
            assert time.monotonic() < deadline, f"the worker did not register in 120 s; see {work}"
            time.sleep(1)
        yield master, ui
    finally:
        _stop(processes)


def _canonical(folder: Path) -> list[str]:
    """Every row of a Parquet folder as sorted JSON text: equal lists mean equal rows."""
    rows = pq.read_table(folder).to_pylist() if folder.exists() else []
    return sorted(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in rows)


def _compared_partitions(lake: Path) -> list[str]:
    """The outputs of DAY's run: the snapshot tables, and bronze and quarantine of every
    delivery dated on or before DAY."""
    found = [
        f"{zone}/{table}/snapshot_date={DAY}"
        for zone, table in (
            ("gold", "household_profile"),
            ("gold", "alerts"),
            ("gold", "alert_resolutions"),
            ("restricted", "alerts"),
            ("restricted", "roll_exceptions"),
        )
    ]
    for zone in ("bronze", "quarantine"):
        for p in sorted(lake.glob(f"{zone}/*/extract_date=*")):
            if p.name.split("=", 1)[1] <= DAY.isoformat():
                found.append(p.relative_to(lake).as_posix())
    return found


@pytest.fixture(scope="module")
def cluster_night(cluster, viewfs_lake, landing, prefect_server):
    """DAY run by `lipmon run --spark-submit` against the cluster into the viewfs lake:
    the folder the lake is mounted on, the master and its web UI port."""
    master, ui = cluster
    uri, lake, hadoop_conf = viewfs_lake
    env = {
        **os.environ,
        "LIPMON_PSEUDONYM_KEY": SAMPLE_KEY,
        "LIPMON_LAKE": uri,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "HADOOP_CONF_DIR": str(hadoop_conf),
        "LIPMON_DRIVER_MEMORY": "1g",
        # The operator's options; the shuffle partitions differ from lipmon's default (8).
        "LIPMON_SPARK_SUBMIT_OPTIONS": "--executor-memory 1g --conf spark.executor.cores=1 "
        "--conf spark.sql.shuffle.partitions=3",
    }
    env["LIPMON_LANDING"] = str(landing)
    done = subprocess.run(
        [*lipmon_command(), "run", "--date", DAY.isoformat(), "--master", master, "--spark-submit"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(PROJECT_ROOT.glob("viewfs*")), "something wrote the lake as a local path"
    return lake, master, ui


def test_each_spark_step_ran_as_an_application_on_the_cluster_with_two_executors(cluster_night):
    lake, master, ui = cluster_night
    manifest = json.loads((lake / f"runs/{DAY}/manifest.json").read_text())
    assert manifest["outcome"] == "succeeded"
    assert manifest["parameters"]["spark_submit"] is True
    for step in ("ingest", "snapshot", "relink", "push"):
        section = manifest["lifecycle" if step == "relink" else step]
        placed = section["spark"]
        assert placed["master"] == master, step
        assert placed["application_id"].startswith("app-"), step
        if step != "relink":  # relink had no later date to rewrite: it ran no Spark job, so its
            assert placed["executors"] == 2, (step, placed)  # executors may not have registered yet
        assert placed["shuffle_partitions"] == 3, step  # the submission's setting won
        assert (lake / f"runs/{DAY}/submit/{step}.log").stat().st_size > 0
    # The master saw the four applications finish, under the names lipmon gave them.
    finished = httpx.get(f"http://127.0.0.1:{ui}/json/", timeout=5).json()["completedapps"]
    assert {a["name"] for a in finished} >= {f"lipmon-{s}-{DAY}" for s in ("ingest", "snapshot", "relink", "push")}


def test_the_cluster_night_equals_the_local_mode_night_row_for_row(cluster_night, local_lake):
    lake, _, _ = cluster_night
    compared = _compared_partitions(local_lake)
    assert compared == _compared_partitions(lake)
    assert len(compared) >= 11  # five snapshot tables and six deliveries at least
    for partition in compared:
        expected = _canonical(local_lake / partition)
        assert _canonical(lake / partition) == expected, partition
    # Not vacuous: the local run scored households and alerted some.
    assert len(_canonical(local_lake / f"gold/alerts/snapshot_date={DAY}")) > 0


def test_lipmon_compare_says_equal_for_the_two_runs_and_names_a_changed_partition(
    cluster_night, local_lake, viewfs_lake, spark, tmp_path, capsys
):
    from pipelines.cli import main
    from pipelines.compare import compare_lakes

    lake, _, _ = cluster_night
    uri, folder, _ = viewfs_lake
    # `lipmon compare` in this process, on the session's Spark: its Hadoop configuration
    # is given the mount table the cluster's core-site.xml holds (HADOOP_CONF_DIR is read
    # when a JVM starts, and this one started without it).
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.viewfs.mounttable.{MOUNT}.link./lake", folder.as_uri())
    assert main(["compare", str(local_lake), uri, "--date", DAY.isoformat()]) == 0
    partitions = len(_compared_partitions(local_lake))
    assert f"{partitions} of {partitions} partition(s) equal row for row" in capsys.readouterr().out

    changed = tmp_path / "changed"
    shutil.copytree(lake, changed)
    alerts = changed / f"gold/alerts/snapshot_date={DAY}"
    table = pq.read_table(alerts)
    shutil.rmtree(alerts)
    alerts.mkdir()
    pq.write_table(table.slice(1), alerts / "part-00000.parquet")  # one alert fewer
    diffs = {d.partition: d for d in compare_lakes(spark, local_lake, changed, DAY)}
    assert [p for p, d in diffs.items() if not d.equal] == [f"gold/alerts/snapshot_date={DAY}"]
    d = diffs[f"gold/alerts/snapshot_date={DAY}"]
    assert (d.rows_a - d.rows_b, d.only_in_a, d.only_in_b) == (1, 1, 0)
