"""The webhook sink: each batch is one HTTP(S) POST of JSON to the case-management endpoint,
`{"messages": [<alert_message>, ...]}`, with `Content-Type: application/json`, an
`Idempotency-Key` header for the batch and, when the configured environment variable holds
a token, `Authorization: Bearer <token>`.

Any 2xx answer accepts the whole batch. A timeout, a dropped connection, 408, 425, 429 or
5xx is retried with exponential backoff and jitter up to the attempt budget; any other
answer fails at once (a retry would not change it). Either way the batch stays queued for
the next run.

What the receiver must do: store each message keyed by its `idempotency_key` field and
ignore a message whose key it already has (answering 2xx). lipmon never sends a message
that its ledger records as delivered, but a request that reached the receiver and timed
out, or a crash between the answer and the ledger, sends it again. The `Idempotency-Key`
header is derived from the batch's message keys, so a retried request carries the same
header; a later run may batch the same message differently, so deduplicate by message."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable

import httpx

from pipelines.policy.config import WebhookPolicy
from pipelines.push.sink import PushFailed

log = logging.getLogger(__name__)
RETRIED_STATUSES = {408, 425, 429}


def batch_key(keys: list[str]) -> str:
    return hashlib.sha256(("lipmon-batch:v1|" + ",".join(sorted(keys))).encode("ascii")).hexdigest()


def backoff_delay(attempt: int, policy: WebhookPolicy, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half the capped step, plus up to half again at
    random, so retries from many batches or runs do not arrive in lockstep."""
    step = min(policy.backoff_max_seconds, policy.backoff_seconds * 2 ** (attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


class WebhookSink:
    name = "webhook"

    def __init__(
        self,
        policy: WebhookPolicy,
        *,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.policy = policy
        if policy.url is None:  # the policy validates this; a sink built by hand must say it too
            raise ValueError("push.webhook.url is required for the webhook sink")
        self._url = httpx.URL(policy.url)
        headers = {"Content-Type": "application/json", "User-Agent": "lipmon-push"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(policy.timeout_seconds), headers=headers, follow_redirects=False
        )
        self._sleep = sleep
        self._rng = rng or random.Random()

    def where(self) -> str:
        port = f":{self._url.port}" if self._url.port else ""
        return f"{self._url.scheme}://{self._url.host}{port}{self._url.path}"

    def deliver(self, messages: list[dict]) -> list[str]:
        keys = [m["idempotency_key"] for m in messages]
        body = json.dumps({"messages": messages}, ensure_ascii=False).encode("utf-8")
        headers = {"Idempotency-Key": batch_key(keys)}
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:  # connection refused or dropped, timeouts
                problem = type(exc).__name__
            else:
                if response.is_success:
                    return keys
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in RETRIED_STATUSES:
                    raise PushFailed(
                        f"webhook {self.where()} refused a batch of {len(keys)} message(s) with {problem}; not retried"
                    )
            if attempt < attempts:
                delay = backoff_delay(attempt, self.policy, self._rng)
                log.warning(
                    "webhook %s: attempt %d of %d for a batch of %d message(s) failed (%s); retrying in %.2fs",
                    self.where(),
                    attempt,
                    attempts,
                    len(keys),
                    problem,
                    delay,
                )
                self._sleep(delay)
        raise PushFailed(
            f"webhook {self.where()}: a batch of {len(keys)} message(s) was not accepted after "
            f"{attempts} attempt(s); last: {problem}"
        )

    def close(self) -> None:
        self._client.close()
