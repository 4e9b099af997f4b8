"""The one interface every push sink implements, and choosing the configured one.

`deliver(messages)` sends one batch and returns the idempotency keys the receiver has
accepted; it raises `PushFailed` (naming the sink, never a message's content) when it
cannot. A sink may be handed a message it delivered before (after a crash between its
delivery and the ledger): the outbox and the database skip it themselves; a webhook's
receiver must (see webhook.py)."""

from __future__ import annotations

import os
from typing import Protocol

from pipelines.contracts.outputs import OutputContract
from pipelines.lake import Lake
from pipelines.storage import is_remote
from pipelines.policy.config import PushPolicy


class PushFailed(RuntimeError):
    pass


class Sink(Protocol):
    name: str

    def where(self) -> str:
        """Where messages go, safe to log (no credentials)."""

    def deliver(self, messages: list[dict]) -> list[str]:
        """Send one batch; the idempotency keys accepted."""

    def close(self) -> None: ...


def open_sink(policy: PushPolicy, lake: Lake, contract: OutputContract) -> Sink:
    if policy.sink == "outbox":
        from pipelines.push.outbox import OutboxSink

        return OutboxSink(lake.root / policy.outbox.folder)
    if policy.sink == "webhook":
        from pipelines.push.webhook import WebhookSink

        return WebhookSink(policy.webhook, token=os.environ.get(policy.webhook.token_env) or None)
    from pipelines.push.database import DatabaseSink

    db = policy.database
    url = os.environ.get(db.url_env) or db.url
    if not url:
        if is_remote(lake.root):
            raise ValueError(f"push.database: the default SQLite file cannot live in a lake at a URI ({lake.root}); "
                             f"set push.database.url or {db.url_env} to a database")
        path = (lake.root / db.sqlite_file).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    return DatabaseSink(url, db.table, contract)
