"""One writer per lake: the lease `<lake>/_lease.json`.

Every command that writes (run, backfill, ingest, the runs `lipmon serve` starts, a whole
night under spark-submit) holds it while it works. It is created atomically (an exclusive
create, on a local folder and on a Hadoop URI alike), names its holder (command, date,
host, process, start time) and is renewed by a background thread. A second writer stops at
once with a message naming the holder. A lease whose holder is gone (its process is dead
on this host, or it was not renewed for `LIPMON_LEASE_TIMEOUT` seconds, default 900) is
taken over with a warning. Readers never need it: they go by `_SUCCESS` and the manifest.

Within one process the lease is re-entrant: a backfill holds it across its nights, and
each nightly flow inside it finds it held by its own process.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pipelines.storage import Location, create_new, read_lines, rename, write_atomically

log = logging.getLogger(__name__)

LEASE_FILE = "_lease.json"
DEFAULT_TIMEOUT_SECONDS = 900


class LakeBusy(RuntimeError):
    """Another writer holds the lake."""


@dataclass(frozen=True)
class Holder:
    command: str
    date: str
    host: str
    pid: int
    started: str
    renewed: str
    token: str

    def describe(self) -> str:
        return (
            f"`lipmon {self.command}` for {self.date} on host {self.host} (process {self.pid}), "
            f"started {self.started}, last renewed {self.renewed}"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def timeout_seconds() -> int:
    given = os.environ.get("LIPMON_LEASE_TIMEOUT")
    if not given:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = int(given)
    except ValueError:
        raise ValueError(f"LIPMON_LEASE_TIMEOUT={given!r}: not a whole number of seconds") from None
    if value < 10:
        raise ValueError(f"LIPMON_LEASE_TIMEOUT={value}: at least 10 seconds")
    return value


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_holder(path: Location) -> Holder | None:
    """The lease's holder, or None when there is no lease (or it cannot be read: a lease
    being written, or left half-written by a crash, reads as none and is re-checked)."""
    try:
        text = "\n".join(read_lines(path))
        return Holder(**json.loads(text))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None


def why_stale(holder: Holder, timeout: int, *, now: datetime | None = None) -> str | None:
    """Why a holder's lease may be taken over, or None while it stands."""
    if holder.host == platform.node() and not _process_alive(holder.pid):
        return f"its process {holder.pid} on this host is gone"
    age = ((now or _now()) - datetime.fromisoformat(holder.renewed)).total_seconds()
    if age > timeout:
        return f"it was last renewed {age:.0f} s ago, more than the {timeout} s allowed"
    return None


class LakeLease:
    """The lease on one lake; use as a context manager around the work."""

    _held: ClassVar[dict[str, LakeLease]] = {}  # lake -> this process's lease on it
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, lake_root: Location, *, command: str, date: str, timeout: int | None = None):
        self.path = lake_root / LEASE_FILE
        self.timeout = timeout if timeout is not None else timeout_seconds()
        self.command, self.date = command, date
        self.holder: Holder | None = None
        self.depth = 0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost: str | None = None

    # -- acquiring and releasing

    def __enter__(self) -> LakeLease:
        key = str(self.path)
        with LakeLease._lock:
            mine = LakeLease._held.get(key)
            if mine is not None:
                mine.depth += 1
                return mine
            self._acquire()
            self.depth = 1
            LakeLease._held[key] = self
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lipmon-lease", daemon=True)
        self._renewer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        key = str(self.path)
        with LakeLease._lock:
            mine = LakeLease._held[key]
            mine.depth -= 1
            if mine.depth:
                return
            del LakeLease._held[key]
        mine._release()

    def _new_holder(self) -> Holder:
        now = _now().isoformat(timespec="seconds")
        return Holder(self.command, self.date, platform.node(), os.getpid(), now, now, uuid.uuid4().hex)

    def _acquire(self) -> None:
        for _ in range(5):
            holder = self._new_holder()
            if create_new(self.path, _encode(holder)):
                self.holder = holder
                return
            current = read_holder(self.path)
            if current is None:
                continue  # released meanwhile, or being written: try again
            reason = why_stale(current, self.timeout)
            if reason is None:
                raise LakeBusy(
                    f"the lake {self.path.parent} is held by {current.describe()}; try again after it "
                    f"finishes (a lease not renewed for {self.timeout} s is taken over)"
                )
            # Move the stale lease aside by name: of two takers, one rename succeeds.
            aside = self.path.with_name(f".{LEASE_FILE}.stale-{uuid.uuid4().hex[:8]}")
            try:
                rename(self.path, aside)
            except OSError:
                continue
            log.warning("took over the lake's lease from %s: %s", current.describe(), reason)
            aside.unlink()
        raise LakeBusy(f"the lake {self.path.parent}: could not take its lease after 5 tries")

    def _release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
        current = read_holder(self.path)
        if self.holder is not None and current is not None and current.token == self.holder.token:
            self.path.unlink()

    # -- renewal

    def renew(self) -> None:
        """Write the lease again with the time now, if it is still ours."""
        assert self.holder is not None
        current = read_holder(self.path)
        if current is None or current.token != self.holder.token:
            taker = current.describe() if current else "nobody (the lease is gone)"
            self.lost = f"this process's lease on {self.path.parent} was taken over by {taker}"
            log.error("%s", self.lost)
            self._stop.set()
            return
        renewed = Holder(**{**asdict(self.holder), "renewed": _now().isoformat(timespec="seconds")})
        write_atomically(self.path, _encode(renewed), durable=True)
        self.holder = renewed

    def _renew_until_stopped(self) -> None:
        interval = max(1.0, self.timeout / 10)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except Exception:  # a passing storage error: the next renewal tries again
                log.warning("could not renew the lake's lease", exc_info=True)


def _encode(holder: Holder) -> bytes:
    return (json.dumps(asdict(holder), indent=2) + "\n").encode("utf-8")
