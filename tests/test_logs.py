"""The one place logging is configured: Prefect's routine lines are dropped or shortened,
everything else passes."""

from __future__ import annotations

import errno
import logging

from pipelines.run.logs import failure_line, quiet_prefect


def _record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_prefect_routine_lines_are_dropped_and_its_server_announcement_shortened():
    quiet_prefect()
    quiet_prefect()  # idempotent: one filter per logger
    tasks, root = logging.getLogger("prefect.task_runs"), logging.getLogger("prefect")
    assert len(tasks.filters) == len({type(f) for f in tasks.filters})
    assert not tasks.filter(_record("prefect.task_runs", "Finished in state %s", "Completed()"))
    assert tasks.filter(_record("prefect.task_runs", "ingest: finished in %.1fs: %s", 3.0, "2 landed"))
    assert tasks.filter(_record("prefect.task_runs", "Finished in state Failed('boom')"))
    announcement = _record(
        "prefect", "Starting temporary server on http://127.0.0.1:8123\nSee https://www.prefect.io/docs"
    )
    assert root.filter(announcement)
    assert announcement.getMessage() == "Starting temporary server on http://127.0.0.1:8123"


def test_a_full_disk_reads_as_one_plain_line_naming_the_lake_only_for_its_writers():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as cause:
            raise RuntimeError("An error occurred while calling o81.parquet.\n(Java stack)") from cause
    except RuntimeError as exc:
        wrapped = exc
    assert failure_line("run", wrapped, "/data/lake") == (
        "lipmon run: the disk is full (No space left on device) under /data/lake; nothing was half "
        "published (what was being written stays unpublished): free space and run again"
    )
    java = RuntimeError("Job aborted.\njava.io.IOException: No space left on device")
    assert failure_line("generate", java) == (
        "lipmon generate: the disk is full (No space left on device): free space and run again"
    )
    assert failure_line("run", ValueError("bad date\nmore")) == "lipmon run: bad date"
