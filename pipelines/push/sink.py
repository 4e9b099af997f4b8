"""The one interface every push sink implements (pipelines.push.sinks chooses the
configured one).

`deliver(messages)` sends one batch and returns the idempotency keys the receiver has
accepted; it raises `PushFailed` (naming the sink, never a message's content) when it
cannot. A sink may be handed a message it delivered before (after a crash between its
delivery and the ledger): the outbox and the database skip it themselves; a webhook's
receiver must (see webhook.py)."""

from __future__ import annotations

from typing import Protocol


class PushFailed(RuntimeError):
    pass


class Sink(Protocol):
    name: str

    def where(self) -> str:
        """Where messages go, safe to log (no credentials)."""

    def deliver(self, messages: list[dict]) -> list[str]:
        """Send one batch; the idempotency keys accepted."""

    def close(self) -> None: ...
