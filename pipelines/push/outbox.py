"""The outbox sink (the default): JSON Lines files under `restricted/outbox/snapshot_date=D/`,
one message a line, one file per delivered batch, each written atomically. A case-management
system (or a person) picks the files up; a file is there whole or not at all."""

from __future__ import annotations

import json

from pipelines.lake import write_lines
from pipelines.push.ledger import batch_file_name, jsonl_keys
from pipelines.storage import Location


class OutboxSink:
    name = "outbox"

    def __init__(self, folder: Location):
        self.folder = folder
        self._present: dict[Location, set[str]] = {}

    def where(self) -> str:
        return str(self.folder)

    def deliver(self, messages: list[dict]) -> list[str]:
        by_date: dict[str, list[dict]] = {}
        for message in messages:
            by_date.setdefault(message["snapshot_date"], []).append(message)
        for day, group in by_date.items():
            folder = self.folder / f"snapshot_date={day}"
            # A message already in the outbox (written before a crash, not yet in the ledger) is not written twice.
            if folder not in self._present:  # read once per run: re-reading per batch would be quadratic
                self._present[folder] = jsonl_keys(folder)
            present = self._present[folder]
            new = [m for m in group if m["idempotency_key"] not in present]
            if new:
                write_lines(folder / batch_file_name(), (json.dumps(m, ensure_ascii=False) for m in new))
                present.update(m["idempotency_key"] for m in new)
        return [m["idempotency_key"] for m in messages]

    def close(self) -> None:
        self._present.clear()
