"""The push ledger: every message delivered, in the restricted zone under
`restricted/push_ledger/snapshot_date=D/`. Append-only: one JSON Lines file per delivered
batch, written atomically once the sink has accepted the batch, so after a crash a batch is
recorded whole or not at all. A message whose idempotency_key is in the ledger is never
sent again, whichever sink is configured. It holds no personal data: keys, household_key,
status, rules, the sink and the time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

from pipelines.lake import Lake, write_lines
from pipelines.storage import Location, glob, read_lines
from pipelines.tables import PUSH_LEDGER

RECORDED = ("idempotency_key", "household_key", "snapshot_date", "status", "rules")


def batch_file_name() -> str:
    """A unique, time-ordered file name for one batch."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.jsonl"


def jsonl_keys(folder: Location) -> set[str]:
    """The idempotency keys in the JSON Lines files of a folder (temporary files excluded)."""
    keys: set[str] = set()
    for path in glob(folder, "*.jsonl"):
        keys.update(json.loads(line)["idempotency_key"] for line in read_lines(path) if line.strip())
    return keys


class Ledger:
    def __init__(self, lake: Lake, day: date):
        self.folder = lake.path(PUSH_LEDGER, day)

    def delivered(self) -> set[str]:
        return jsonl_keys(self.folder)

    def record(self, messages: list[dict], sink: str) -> None:
        if not messages:
            return
        at = datetime.now(UTC).isoformat(timespec="seconds")
        write_lines(
            self.folder / batch_file_name(),
            (
                json.dumps({**{k: m[k] for k in RECORDED}, "sink": sink, "delivered_at": at}, ensure_ascii=False)
                for m in messages
            ),
        )
