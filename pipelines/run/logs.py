"""The one place logging is configured, for the command line and submitted steps: lipmon's
own progress at INFO, libraries at WARNING, and the warnings a user cannot act on
silenced deliberately, each with its reason. (Spark's JVM logs by
pipelines/log4j2.properties, which silences its own such warnings the same way.)"""

from __future__ import annotations

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
