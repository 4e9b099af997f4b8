"""A case-management endpoint for tests: a real HTTP server on 127.0.0.1 (a free port) in a
thread, answering each request as its `script` says by request number (1, 2, ...):

- "ok": 200 (the messages are stored);
- a status code such as 500: that answer, nothing stored;
- "drop": the connection is closed without an answer, nothing stored;
- "slow": the messages are stored, then the answer comes after `slow_seconds` (past the
  client's timeout, so the client retries a batch the receiver already has).

It stores every message it receives, so a test can deduplicate by idempotency key the way
the receiver contract asks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, script: Callable[[int], object], slow_seconds: float = 1.5):
        self.script = script
        self.slow_seconds = slow_seconds
        self.requests: list[dict] = []  # every request, in arrival order
        self.messages: list[dict] = []  # every message stored (duplicates included)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    action = receiver.script(len(receiver.requests))
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action in ("ok", "slow"):
                    with receiver._lock:
                        receiver.messages.extend(body["messages"])
                    if action == "slow":
                        time.sleep(receiver.slow_seconds)
                    self._answer(200)
                else:
                    self._answer(int(action))

            def _answer(self, status: int) -> None:
                payload = json.dumps({"status": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (a "slow" answer)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        """The idempotency key of every stored message, duplicates included."""
        with self._lock:
            return [m["idempotency_key"] for m in self.messages]
