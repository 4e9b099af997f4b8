"""The one place logging is configured, for the command line and submitted steps: lipmon's
own progress at INFO, libraries at WARNING, and the warnings a user cannot act on
silenced deliberately, each with its reason. (Spark's JVM logs by
pipelines/log4j2.properties, which silences its own such warnings the same way.)"""

from __future__ import annotations

import errno
import logging
import sys
import warnings

# Library loggers that speak at INFO about their own workings.
_QUIET = ("py4j", "great_expectations", "httpx", "httpcore", "alembic", "sqlalchemy", "uvicorn", "asyncio")


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Prefect's temporary server announces itself and points at its docs on every run.
    logging.getLogger("prefect.server").setLevel(logging.WARNING)
    # Great Expectations warns that its Spark datasource is "experimental" and about
    # result formats on every validation; lipmon pins its version and checks the results.
    warnings.filterwarnings("ignore", module=r"great_expectations(\..*)?")
    # PySpark's pandas conversion warns about its own deprecated options.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\..*)?")


class _DropRoutine(logging.Filter):
    """Drops Prefect's routine lines: each task's "Finished in state Completed()" (the
    step's own closing line says more), and keeps only the first line of its temporary
    server's announcement (the rest points at its docs on every run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == "Finished in state Completed()":
            return False
        if message.startswith("Starting temporary server"):
            record.msg, record.args = message.splitlines()[0], ()
        return True


def quiet_prefect() -> None:
    """Call after Prefect is imported (its import configures its own loggers)."""
    for name in ("prefect", "prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropRoutine) for f in logger.filters):
            logger.addFilter(_DropRoutine())


DISK_FULL = "No space left on device"


def disk_full(exc: BaseException) -> bool:
    """Whether a failure comes down to a full disk: an OSError ENOSPC raised here, or a
    Spark (Java) error carrying the same text, anywhere in the chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (isinstance(current, OSError) and current.errno == errno.ENOSPC) or DISK_FULL in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def failure_line(command: str, exc: BaseException, lake: object | None = None) -> str:
    """The one line a failed command prints: the error's first line, or for a full disk a
    plain account of what happened and what to do. `lake`: the lake the command was
    writing, whose publishing guarantees that nothing of it is half published."""
    if disk_full(exc):
        if lake is None:
            return f"lipmon {command}: the disk is full ({DISK_FULL}): free space and run again"
        return (
            f"lipmon {command}: the disk is full ({DISK_FULL}) under {lake}; nothing was half published "
            "(what was being written stays unpublished): free space and run again"
        )
    return f"lipmon {command}: {exc}".splitlines()[0]
