"""Sending the queued messages exactly once: for every queued snapshot date, oldest first,
the messages the ledger has not recorded go to the sink batch by batch, and each accepted
batch is recorded in the ledger before the next is sent. A date whose messages are all
recorded leaves the queue. A sink failure stops the push with the undelivered messages still
queued; the next run that pushes sends them.

Crash semantics: a crash after the sink accepted a batch and before the ledger recorded it
sends that batch again on the next attempt, with the same idempotency keys (the outbox and
database sinks skip keys they hold; a webhook receiver must, see webhook.py). Nothing is
ever recorded as delivered that the sink did not accept."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from itertools import islice

from pipelines.contracts.outputs import OutputContract
from pipelines.lake import Lake, checkpoint
from pipelines.push.ledger import Ledger
from pipelines.push.queue import drop_queue, queued_dates, read_queue
from pipelines.push.sink import PushFailed, Sink

log = logging.getLogger(__name__)


@dataclass
class PushReport:
    sink: str
    where: str
    queued: int = 0  # messages in the queues looked at
    already_delivered: int = 0  # recorded in the ledger before: not sent again
    delivered: dict[str, int] = field(default_factory=dict)  # sent now, by snapshot date

    def to_dict(self) -> dict:
        return asdict(self)


def push_queued(lake: Lake, sink: Sink, contract: OutputContract, *, batch_size: int) -> PushReport:
    report = PushReport(sink.name, sink.where())
    for day in queued_dates(lake):
        ledger = Ledger(lake, day)
        recorded = ledger.delivered()
        # Two passes over the date's queue: the first checks every message against the
        # contract (a bad one stops the push before anything is sent) and counts what is to
        # send; the second sends it batch by batch. Only a batch is ever held in memory, not
        # the date's whole queue (55,000 messages on a 200,000-household city's first night).
        to_send = 0
        for message in read_queue(lake, day, contract):
            report.queued += 1
            if message["idempotency_key"] in recorded:
                report.already_delivered += 1
            else:
                to_send += 1
        pending = (m for m in read_queue(lake, day, contract) if m["idempotency_key"] not in recorded)
        sent = 0
        while batch := list(islice(pending, batch_size)):
            try:
                accepted = set(sink.deliver(batch))
            except PushFailed as exc:
                raise PushFailed(
                    f"{exc}; {to_send - sent} message(s) of {day} stay queued for the next run that pushes"
                ) from exc
            checkpoint("push:before-ledger")
            ledger.record([m for m in batch if m["idempotency_key"] in accepted], sink.name)
            sent += len(accepted)
            if len(accepted) < len(batch):
                raise PushFailed(
                    f"{sink.name} {sink.where()} accepted {len(accepted)} of a batch of {len(batch)}; "
                    f"{to_send - sent} message(s) of {day} stay queued"
                )
        drop_queue(lake, day)
        if to_send:
            report.delivered[day.isoformat()] = sent
            log.info("pushed %d message(s) of %s to %s %s", sent, day, sink.name, sink.where())
    return report
