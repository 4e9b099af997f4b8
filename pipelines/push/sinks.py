"""Choosing the configured push sink (policy `push.sink`): the outbox, a webhook or a
database, each behind the one interface of pipelines.push.sink."""

from __future__ import annotations

import os

from pipelines.contracts.outputs import OutputContract
from pipelines.lake import Lake
from pipelines.policy.config import PushPolicy
from pipelines.push.database import DatabaseSink
from pipelines.push.outbox import OutboxSink
from pipelines.push.sink import Sink
from pipelines.push.webhook import WebhookSink
from pipelines.storage import is_remote


def open_sink(policy: PushPolicy, lake: Lake, contract: OutputContract) -> Sink:
    if policy.sink == "outbox":
        return OutboxSink(lake.root / policy.outbox.folder)
    if policy.sink == "webhook":
        return WebhookSink(policy.webhook, token=os.environ.get(policy.webhook.token_env) or None)
    db = policy.database
    url = os.environ.get(db.url_env) or db.url
    if not url:
        if is_remote(lake.root):
            raise ValueError(
                f"push.database: the default SQLite file cannot live in a lake at a URI ({lake.root}); "
                f"set push.database.url or {db.url_env} to a database"
            )
        path = (lake.root / db.sqlite_file).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    return DatabaseSink(url, db.table, contract)
