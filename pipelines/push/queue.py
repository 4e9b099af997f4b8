"""The push queue: the messages of a snapshot date as JSON Lines in the restricted zone
(`restricted/push_queue/snapshot_date=D/`), written by Spark and published whole like every
partition. A date's queue stays until every message in it is in the push ledger, so the
next run that pushes sends what an earlier one could not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

from pyspark.sql import SparkSession

from pipelines.contracts.outputs import OutputContract, conform
from pipelines.lake import Lake
from pipelines.push.messages import alert_messages, suppressed_alerts
from pipelines.storage import glob, read_lines, rmtree
from pipelines.tables import PUSH_QUEUE, RESTRICTED_ALERTS


class QueueError(RuntimeError):
    pass


def queue_messages(spark: SparkSession, lake: Lake, as_of: date, contract: OutputContract) -> tuple[int, int]:
    """Queue the NEW and ESCALATED alerts of a published snapshot date that no recent visit
    suppresses; the message count, and the count of alerts suppressed."""
    restricted = lake.read(spark, RESTRICTED_ALERTS, as_of)
    suppressed = suppressed_alerts(restricted).count()
    staging = lake.staging()
    try:
        staged = staging / "push_queue"
        (
            conform(alert_messages(restricted, as_of), contract)
            .write.option("ignoreNullFields", "false")
            .json(str(staged))
        )
        count = spark.read.text(str(staged)).count()
        lake.publish(staged, PUSH_QUEUE, as_of)
    finally:
        rmtree(staging)
    return count, suppressed


def queued_dates(lake: Lake) -> list[date]:
    return lake.dates(PUSH_QUEUE)


def read_queue(lake: Lake, day: date, contract: OutputContract) -> Iterator[dict]:
    """The queued messages of a date in queue order, each checked against the contract."""
    expected = {c.name for c in contract.columns}
    for part in glob(lake.path(PUSH_QUEUE, day), "part-*.json"):
        for number, line in enumerate(read_lines(part), 1):
            message = json.loads(line)
            if set(message) != expected:
                raise QueueError(
                    f"{part}:{number}: fields differ from the {contract.name} contract: "
                    f"missing {sorted(expected - set(message))}, unknown {sorted(set(message) - expected)}"
                )
            yield message


def drop_queue(lake: Lake, day: date) -> None:
    lake.remove(PUSH_QUEUE, day)
