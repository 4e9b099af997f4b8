"""Pushing alerts exactly once, without Spark: hand-written queues sent through each sink.
A real HTTP server on 127.0.0.1 that fails a share of requests (500s, dropped connections,
answers slower than the client's timeout) receives every message at least once and, after
deduplication by idempotency key as the receiver contract asks, exactly once; a rerun sends
nothing; a crash between delivery and the ledger is covered; the database sink writes a
real SQLite file, and PostgreSQL when its server and driver are on the machine, and fills a
table an earlier release made."""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.contracts.outputs import output_contract
from pipelines.lake import Lake
from pipelines.policy import ConfigError, load_policy
from pipelines.push.database import DatabaseSink
from pipelines.push.deliver import push_queued
from pipelines.push.ledger import Ledger
from pipelines.push.outbox import OutboxSink
from pipelines.push.queue import QueueError, read_queue
from pipelines.push.sink import PushFailed
from pipelines.push.webhook import WebhookSink, backoff_delay
from pipelines.tables import PUSH_QUEUE
from tests.http_receiver import Receiver

DAY = date(2026, 11, 28)
CONTRACT = output_contract("alert_message")


def _postgres_programs() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's versioned layout."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port, a temporary folder), run as
    an unprivileged user when the tests run as root (PostgreSQL refuses root)."""
    pytest.importorskip("psycopg", reason="PostgreSQL test skipped: the psycopg driver is not installed")
    programs = _postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL test skipped: no PostgreSQL server programs (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="lipmon-pg-"))
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("PostgreSQL test skipped: running as root and runuser is missing to start it as nobody")
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    port, data = _free_port(), folder / "data"
    pg_ctl = [*as_user, str(programs / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*as_user, str(programs / "initdb"), "-D", str(data), "-U", "lipmon", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *pg_ctl,
            "-o",
            f"-h 127.0.0.1 -p {port} -k {folder}",
            "-l",
            str(folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    try:
        yield f"postgresql+psycopg://lipmon@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def message(n: int, day: date = DAY) -> dict:
    """A message as the queue holds it (JSON types), every field of the contract."""
    return {
        "idempotency_key": f"{n:064x}",
        "snapshot_date": day.isoformat(),
        "household_key": f"hk{n:03d}",
        "household_id": f"H{n:03d}",
        "head_person_id": f"37140219800101{n:04d}",
        "head_name": f"名{n}",
        "head_registered": True,
        "status": "NEW" if n % 3 else "ESCALATED",
        "rules": ["LOW_INCOME"],
        "first_seen_date": "2026-11-01",
        "hardship_index": 40.0 + n / 100,
        "rank": n,
        "scope_size": 1000,
        "percentile": 99.0,
        "income": 900.0,
        "per_capita_income": 450.0,
        "dibao_standard": 814.0,
        "income_ratio": 450 / 814,
        "top_reasons": ["income", "dependency"],
        "categories": ["DIBAO"],
        "region_code": "371402001001",
        "county_code": "371402",
        "township_code": "001",
        "village_code": "001",
        "residence_type": "1",
        "size": 2,
        "urgency": "SAFETY_NET",
        "newly_found": True,
        "programme": None,
        "exit_reasons": [],
        "groups": ["MINOR"],
        "asset_flags": [],
        "last_visit_date": None,
        "last_visit_outcome": None,
        "suppressed_until": None,
    }


def queue(lake: Lake, messages: list[dict], day: date = DAY) -> None:
    """Write a date's queue as the push step does (JSON Lines part files)."""
    folder = lake.path(PUSH_QUEUE, day)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-00000.json").write_text(
        "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages), encoding="utf-8"
    )


def webhook(url: str, **overrides) -> WebhookSink:
    settings = {
        "url": url,
        "timeout_seconds": 0.5,
        "max_attempts": 4,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **overrides,
    }
    return WebhookSink(load_policy().push.webhook.model_copy(update=settings), token="s3cret")


def test_message_fields_are_the_contract():
    assert set(message(1)) == {c.name for c in CONTRACT.columns}
    assert CONTRACT.zone == "restricted"
    assert {c.name for c in CONTRACT.columns if c.personal} == {"household_id", "head_person_id", "head_name"}


def test_flaky_receiver_gets_every_message_exactly_once_after_dedup_and_a_rerun_sends_nothing(tmp_path):
    # Request n (1-based) by n mod 7: ok, 500, dropped, ok, slow (stored, answered too late), 503, ok.
    cycle = ["ok", 500, "drop", "ok", "slow", 503, "ok"]
    lake = Lake(tmp_path / "lake")
    sent = [message(n) for n in range(1, 41)]
    queue(lake, sent)
    with Receiver(lambda n: cycle[(n - 1) % len(cycle)], slow_seconds=1.0) as receiver:
        sink = webhook(receiver.url)
        report = push_queued(lake, sink, CONTRACT, batch_size=4)
        counts = Counter(receiver.keys())
        assert set(counts) == {m["idempotency_key"] for m in sent}  # none lost
        assert max(counts.values()) == 2 and len(receiver.keys()) > 40  # slow answers were resent...
        deduplicated = {m["idempotency_key"]: m for m in receiver.messages}
        assert sorted(deduplicated.values(), key=lambda m: m["rank"]) == sent  # ...and dedup gives each once
        assert report.delivered == {"2026-11-28": 40} and report.already_delivered == 0
        assert Ledger(lake, DAY).delivered() == set(counts)
        assert not lake.path(PUSH_QUEUE, DAY).exists()
        # Every retry of a batch carries the same Idempotency-Key and body; the token goes as a bearer token.
        by_batch: dict[str, set[str]] = {}
        for request in receiver.requests:
            by_batch.setdefault(request["headers"]["Idempotency-Key"], set()).add(json.dumps(request["body"]))
            assert request["headers"]["Authorization"] == "Bearer s3cret"
        assert len(by_batch) == 10 and all(len(bodies) == 1 for bodies in by_batch.values())
        # Rerunning the night queues the same messages again: nothing reaches the receiver.
        before = len(receiver.requests)
        queue(lake, sent)
        again = push_queued(lake, sink, CONTRACT, batch_size=4)
        sink.close()
        assert len(receiver.requests) == before
        assert (again.delivered, again.already_delivered) == ({}, 40)


def test_webhook_gives_up_after_its_budget_and_the_next_run_sends_what_stayed_queued(tmp_path):
    lake = Lake(tmp_path / "lake")
    sent = [message(n) for n in range(1, 6)]
    queue(lake, sent)
    healthy = False
    with Receiver(lambda n: "ok" if healthy else 500) as receiver:
        delays: list[float] = []
        sink = WebhookSink(
            load_policy().push.webhook.model_copy(
                update={"url": receiver.url, "max_attempts": 3, "backoff_seconds": 0.2, "backoff_max_seconds": 10}
            ),
            sleep=delays.append,
        )
        with pytest.raises(
            PushFailed,
            match=r"not accepted after 3 attempt\(s\); last: HTTP 500; "
            r"5 message\(s\) of 2026-11-28 stay queued",
        ):
            push_queued(lake, sink, CONTRACT, batch_size=10)
        assert len(receiver.requests) == 3 and receiver.messages == []
        # Backoff 0.2 then 0.4 seconds, each between half and all of its step (jitter).
        assert len(delays) == 2 and 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4
        assert "Authorization" not in receiver.requests[0]["headers"]
        assert lake.path(PUSH_QUEUE, DAY).exists() and Ledger(lake, DAY).delivered() == set()
        healthy = True
        report = push_queued(lake, sink, CONTRACT, batch_size=10)
        sink.close()
    assert report.delivered == {"2026-11-28": 5}
    assert Counter(receiver.keys()) == Counter(m["idempotency_key"] for m in sent)


def test_the_push_holds_a_batch_in_memory_not_the_whole_queue(tmp_path, monkeypatch):
    """40 queued messages in batches of 4: the queue is read once whole to check and count
    it, then again as it is sent, so when the k-th batch reaches the sink 40 + 4k messages
    have been read (holding the queue would have read all 40, once, before the first)."""
    import pipelines.push.deliver as deliver

    lake = Lake(tmp_path / "lake")
    queue(lake, [message(n) for n in range(1, 41)])
    read = 0

    def counted(*args):
        nonlocal read
        for m in read_queue(*args):
            read += 1
            yield m

    monkeypatch.setattr(deliver, "read_queue", counted)
    seen: list[int] = []

    class Counting(OutboxSink):
        def deliver(self, messages):
            seen.append(read)
            return super().deliver(messages)

    report = push_queued(lake, Counting(tmp_path / "outbox"), CONTRACT, batch_size=4)
    assert seen == [44, 48, 52, 56, 60, 64, 68, 72, 76, 80]
    assert report.delivered == {"2026-11-28": 40} and report.queued == 40


def test_a_message_outside_the_contract_stops_the_push_before_anything_is_sent(tmp_path):
    lake = Lake(tmp_path / "lake")
    bad = message(7)
    del bad["rank"]
    queue(lake, [message(n) for n in range(1, 7)] + [bad])
    with pytest.raises(QueueError, match=r"part-00000.json:7: fields differ .* missing \['rank'\]"):
        push_queued(lake, OutboxSink(tmp_path / "outbox"), CONTRACT, batch_size=2)
    assert not (tmp_path / "outbox").exists() and Ledger(lake, DAY).delivered() == set()


def test_webhook_does_not_retry_a_refusal(tmp_path):
    lake = Lake(tmp_path / "lake")
    queue(lake, [message(1)])
    with Receiver(lambda n: 400) as receiver:
        sink = webhook(receiver.url)
        with pytest.raises(PushFailed, match=r"refused a batch of 1 message\(s\) with HTTP 400; not retried"):
            push_queued(lake, sink, CONTRACT, batch_size=10)
        sink.close()
    assert len(receiver.requests) == 1


def test_backoff_doubles_up_to_its_cap_with_jitter():
    policy = load_policy().push.webhook.model_copy(update={"backoff_seconds": 1, "backoff_max_seconds": 5})
    rng = random.Random(3)
    steps = [1, 2, 4, 5, 5]
    for attempt, step in enumerate(steps, 1):
        delay = backoff_delay(attempt, policy, rng)
        assert step / 2 <= delay <= step


def _crash_once(monkeypatch):
    """The process dies after the sink accepted the first batch, before the ledger recorded it."""
    original = Ledger.record
    calls = []

    def record(self, messages, sink):
        calls.append(len(messages))
        if len(calls) == 1:
            raise KeyboardInterrupt("killed between delivery and ledger")
        return original(self, messages, sink)

    monkeypatch.setattr(Ledger, "record", record)


def _outbox_keys(folder: Path) -> list[str]:
    return [
        json.loads(line)["idempotency_key"]
        for path in sorted(folder.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_outbox_after_a_crash_between_delivery_and_ledger_holds_each_message_once(tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    sent = [message(n) for n in range(1, 8)]
    queue(lake, sent)
    outbox = tmp_path / "lake/restricted/outbox"
    _crash_once(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        push_queued(lake, OutboxSink(outbox), CONTRACT, batch_size=3)
    assert len(_outbox_keys(outbox)) == 3 and Ledger(lake, DAY).delivered() == set()
    report = push_queued(lake, OutboxSink(outbox), CONTRACT, batch_size=3)  # the next attempt, a new process
    assert report.delivered == {"2026-11-28": 7}
    assert sorted(_outbox_keys(outbox)) == sorted(m["idempotency_key"] for m in sent)
    files = sorted((outbox / "snapshot_date=2026-11-28").iterdir())
    assert [len(f.read_text().splitlines()) for f in files] == [3, 3, 1]  # no temporary file left
    assert json.loads(files[0].read_text().splitlines()[0]) == sent[0]


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return [
            dict(r._mapping)
            for r in connection.execute(
                sa.text(
                    "select idempotency_key, snapshot_date, head_name, rules, rank from alert_messages order by rank"
                )
            )
        ]


def _database_sink_writes_each_message_once(url: str, monkeypatch, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    sent = [message(n) for n in range(1, 6)]
    queue(lake, sent)
    _crash_once(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        push_queued(lake, DatabaseSink(url, "alert_messages", CONTRACT), CONTRACT, batch_size=2)
    sink = DatabaseSink(url, "alert_messages", CONTRACT)  # the table exists now: reused as it is
    push_queued(lake, sink, CONTRACT, batch_size=2)
    queue(lake, sent)  # a rerun of the night
    assert push_queued(lake, sink, CONTRACT, batch_size=2).already_delivered == 5
    sink.close()
    engine = sa.create_engine(url)
    rows = _rows(engine)
    engine.dispose()
    assert [r["idempotency_key"] for r in rows] == [m["idempotency_key"] for m in sent]
    first = rows[0]
    assert str(first["snapshot_date"]) == "2026-11-28" and first["head_name"] == "名1"
    rules = first["rules"] if isinstance(first["rules"], list) else json.loads(first["rules"])
    assert rules == ["LOW_INCOME"] and first["rank"] == 1


def test_database_sink_on_a_sqlite_file(tmp_path, monkeypatch):
    path = tmp_path / "push.sqlite"
    _database_sink_writes_each_message_once(f"sqlite:///{path}", monkeypatch, tmp_path)
    engine = sa.create_engine(f"sqlite:///{path}")
    primary = sa.inspect(engine).get_pk_constraint("alert_messages")["constrained_columns"]
    engine.dispose()
    assert primary == ["idempotency_key"]


@pytest.mark.system
def test_database_sink_on_postgresql(postgres_url, tmp_path, monkeypatch):
    _database_sink_writes_each_message_once(postgres_url, monkeypatch, tmp_path)


# An earlier release's message table, written by hand: six of the contract's columns and
# delivered_at. Named apart from the other tests' table (they share a PostgreSQL server).
OLD_TABLE = """create table earlier_messages (
    idempotency_key varchar(64) primary key, snapshot_date date, household_key text,
    head_name text, rules json, rank bigint, delivered_at timestamp not null)"""


def _sink_fills_an_earlier_releases_table(url: str, tmp_path: Path, caplog) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(OLD_TABLE)
        connection.exec_driver_sql(
            "insert into earlier_messages values "
            f"('{1:064x}', '2026-11-27', 'hk001', '名1', '[\"TOP_INDEX\"]', 7, '2026-11-27 02:00:00')"
        )
    lake = Lake(tmp_path / "lake")
    queue(lake, [message(n) for n in (1, 2, 3)])  # message 1 is held already
    with caplog.at_level("WARNING", logger="pipelines.push.database"):
        sink = DatabaseSink(url, "earlier_messages", CONTRACT)
    report = push_queued(lake, sink, CONTRACT, batch_size=10)
    sink.close()
    # Sent all three; the table skipped the one it held (below, it keeps its old values).
    assert report.delivered == {"2026-11-28": 3}
    columns = [c["name"] for c in sa.inspect(engine).get_columns("earlier_messages")]
    assert sorted(columns) == sorted([c.name for c in CONTRACT.columns] + ["delivered_at"])
    old = ("idempotency_key", "snapshot_date", "household_key", "head_name", "rules", "rank", "delivered_at")
    added = [c.name for c in CONTRACT.columns if c.name not in old]  # in the contract's order
    assert len(added) == 29 and added[0] == "household_id" and added[-1] == "suppressed_until"
    assert f"added the message contract's column(s) {', '.join(added)}, empty in the rows it held" in caplog.text
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("select idempotency_key, rank, urgency, size, newly_found from earlier_messages order by rank")
        ).all()
    engine.dispose()
    # The row held keeps its values and has none in the new columns; the new rows have all.
    assert [tuple(r) for r in rows] == [
        (f"{2:064x}", 2, "SAFETY_NET", 2, True),
        (f"{3:064x}", 3, "SAFETY_NET", 2, True),
        (f"{1:064x}", 7, None, None, None),
    ]


def test_database_sink_adds_the_contracts_new_columns_to_an_earlier_releases_table(tmp_path, caplog):
    _sink_fills_an_earlier_releases_table(f"sqlite:///{tmp_path / 'push.sqlite'}", tmp_path, caplog)


@pytest.mark.system
def test_database_sink_adds_the_new_columns_on_postgresql(postgres_url, tmp_path, caplog):
    _sink_fills_an_earlier_releases_table(postgres_url, tmp_path, caplog)


@pytest.mark.parametrize(
    ("table", "refused"),
    [
        ("create table alert_messages (message_key text primary key, head_name text)", "no idempotency_key column"),
        (
            "create table alert_messages (idempotency_key varchar(64) primary key, caseworker text not null, "
            "office text not null default 'civil affairs', note text)",
            r"column\(s\) caseworker require a value",
        ),
    ],
)
def test_database_sink_refuses_a_table_the_messages_cannot_go_into(tmp_path, table, refused):
    url = f"sqlite:///{tmp_path / 'push.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(table)
    before = [c["name"] for c in sa.inspect(engine).get_columns("alert_messages")]
    with pytest.raises(PushFailed, match=refused) as failure:
        DatabaseSink(url, "alert_messages", CONTRACT)
    assert "table alert_messages" in str(failure.value)
    assert [c["name"] for c in sa.inspect(engine).get_columns("alert_messages")] == before  # left as it was
    engine.dispose()


def test_database_failure_names_the_database_without_its_password(tmp_path):
    with pytest.raises(PushFailed) as failure:
        DatabaseSink(
            "postgresql+psycopg://lipmon:hunter2@127.0.0.1:1/none?connect_timeout=2", "alert_messages", CONTRACT
        )
    assert "127.0.0.1:1/none" in str(failure.value) and "hunter2" not in str(failure.value)


def test_push_configuration_is_checked(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("push: {sink: webhook}\n")
    with pytest.raises(ConfigError, match="push.webhook.url is required when push.sink is webhook"):
        load_policy(config)
    config.write_text("push: {sink: webhook, webhook: {url: 'ftp://example.org/x'}}\n")
    with pytest.raises(ConfigError, match=r"push.webhook.url: .*http:// or https://"):
        load_policy(config)
    config.write_text("push: {sink: carrier_pigeon}\n")
    with pytest.raises(ConfigError, match="push.sink"):
        load_policy(config)
    config.write_text("push: {database: {table: 'alerts; drop table x'}}\n")
    with pytest.raises(ConfigError, match="push.database.table"):
        load_policy(config)
