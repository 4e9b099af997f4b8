"""The database sink: one row per message in a table of a relational database, through
SQLAlchemy (a SQLite file in the lake by default; a PostgreSQL URL works the same). The
table's columns are the message contract's, plus `delivered_at`; it is created if missing,
with `idempotency_key` as its primary key. Each batch is one transaction that inserts the
messages the table does not hold yet, so a message sent again after a crash is skipped and
a failed batch leaves nothing behind.

A table made by an earlier release lacks the columns the contract has gained since: they
are added when the sink opens (nullable, since the rows it holds have no value for them),
in one transaction, and logged. A table the messages cannot go into is refused before
anything is sent: one without `idempotency_key`, or one with a column of its own that
requires a value lipmon does not give (not nullable, no default)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from pipelines.contracts.outputs import OutputContract
from pipelines.push.sink import PushFailed

log = logging.getLogger(__name__)

COLUMN_TYPES = {
    "string": sa.Text,
    "long": sa.BigInteger,
    "double": sa.Float,
    "boolean": sa.Boolean,
    "date": sa.Date,
    "array<string>": sa.JSON,
}


def message_table(metadata: sa.MetaData, name: str, contract: OutputContract) -> sa.Table:
    columns = [
        sa.Column(
            c.name,
            sa.String(64) if c.name == "idempotency_key" else COLUMN_TYPES[c.type](),
            primary_key=c.name == "idempotency_key",
            comment=c.description,
        )
        for c in contract.columns
    ]
    return sa.Table(name, metadata, *columns, sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False))


class DatabaseSink:
    name = "database"

    def __init__(self, url: str, table: str, contract: OutputContract):
        self._url = sa.make_url(url)
        self._dates = [c.name for c in contract.columns if c.type == "date"]
        self._engine = sa.create_engine(self._url)
        self._table = message_table(sa.MetaData(), table, contract)
        try:
            self._table.metadata.create_all(self._engine)
            added = self._add_missing_columns()
        except SQLAlchemyError as exc:
            raise PushFailed(f"database {self.where()}: cannot create table {table}: {_reason(exc)}") from None
        if added:
            log.warning(
                "database %s: added the message contract's column(s) %s, empty in the rows it held",
                self.where(),
                ", ".join(added),
            )

    def where(self) -> str:
        return f"{self._url.render_as_string(hide_password=True)} table {self._table.name}"

    def _add_missing_columns(self) -> list[str]:
        """The contract's columns an existing table lacks, added (nullable); a PushFailed
        for a table the messages cannot go into. The names of what was added."""
        existing = {c["name"]: c for c in sa.inspect(self._engine).get_columns(self._table.name)}
        if "idempotency_key" not in existing:
            raise PushFailed(
                f"database {self.where()}: the table has no idempotency_key column, which keeps each "
                "message once; give the push another table (push.database.table)"
            )
        own = sorted(
            name
            for name, column in existing.items()
            if name not in self._table.c
            and not column["nullable"]
            and column.get("default") is None
            and column.get("autoincrement") is not True
        )
        if own:
            raise PushFailed(
                f"database {self.where()}: column(s) {', '.join(own)} require a value the messages "
                "do not have (not nullable, no default); make them nullable or give them a default"
            )
        missing = [c for c in self._table.columns if c.name not in existing]
        if not missing:
            return []
        # Compiled by the database's own dialect, nullable: the rows held have no value.
        added = sa.Table(self._table.name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in missing))
        dialect = self._engine.dialect
        name = dialect.identifier_preparer.format_table(self._table)
        with self._engine.begin() as connection:
            for column in added.columns:
                spec = sa.schema.CreateColumn(column).compile(dialect=dialect)
                connection.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {spec}")
        return [c.name for c in missing]

    def deliver(self, messages: list[dict]) -> list[str]:
        keys = [m["idempotency_key"] for m in messages]
        at = datetime.now(UTC)
        key_column = self._table.c.idempotency_key
        try:
            with self._engine.begin() as connection:
                present = set(connection.scalars(sa.select(key_column).where(key_column.in_(keys))))
                rows = [self._row(m, at) for m in messages if m["idempotency_key"] not in present]
                if rows:
                    connection.execute(sa.insert(self._table), rows)
        except SQLAlchemyError as exc:
            raise PushFailed(
                f"database {self.where()}: a batch of {len(keys)} message(s) was not written: {_reason(exc)}"
            ) from None
        return keys

    def _row(self, message: dict, at: datetime) -> dict:
        row = {**message, "delivered_at": at}
        for name in self._dates:
            row[name] = date.fromisoformat(row[name]) if row[name] else None
        return row

    def close(self) -> None:
        self._engine.dispose()


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's first line only: SQLAlchemy's own message would repeat the statement's
    parameters, which hold names and ID numbers."""
    source = getattr(exc, "orig", None) or exc
    lines = str(source).splitlines()
    return f"{type(source).__name__}: {lines[0] if lines else ''}"
