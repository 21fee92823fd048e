"""A DB-API 2 (PEP 249) wrapper: one client span per ``execute`` / ``executemany``.

Works with any driver because it only wraps the connection and its cursors, delegating
everything else unchanged:

    conn = traced_connection(sqlite3.connect("app.db"), db_system="sqlite", db_name="app")
    conn = connect(psycopg.connect, dsn, db_system="postgresql")

Span name: the statement's first word (``SELECT``, ``INSERT``, ...), so per-operation
sampling sees a handful of operations, not one per query text. Tags: ``span.kind=client``,
``component=dbapi``, ``db.system``, ``db.type=sql``, ``db.name`` / ``db.instance``,
``db.statement`` (cut by the tracer's tag length limit), ``db.rows_affected`` when the
driver reports a row count (``rowcount >= 0``), ``db.batch_size`` for ``executemany``;
a driver exception sets ``error`` and is re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import opentracing

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer


def _verb(statement: Any) -> str:
    text = statement.decode(errors="replace") if isinstance(statement, bytes) else str(statement)
    for word in text.split(None, 3):
        if not word.startswith("--"):
            return word.upper()
    return "SQL"


class _Settings:
    __slots__ = ("tracer", "db_system", "db_name")

    def __init__(self, tracer: opentracing.Tracer | None, db_system: str, db_name: str | None) -> None:
        self.tracer = tracer
        self.db_system = db_system
        self.db_name = db_name


class TracedCursor:
    def __init__(self, cursor: Any, settings: _Settings) -> None:
        self._cursor = cursor
        self._settings = settings

    def _traced(self, method: Callable[..., Any], statement: Any, args: tuple, batch: int | None) -> Any:
        if is_suppressed():
            return method(statement, *args)
        s = self._settings
        tags: dict[str, Any] = {
            "span.kind": "client",
            "component": "dbapi",
            "db.system": s.db_system,
            "db.type": "sql",
            "db.statement": statement if isinstance(statement, str) else str(statement),
        }
        if s.db_name:
            tags["db.name"] = tags["db.instance"] = s.db_name
        if batch is not None:
            tags["db.batch_size"] = batch
        with resolve_tracer(s.tracer).start_active_span(_verb(statement), tags=tags) as scope:
            result = method(statement, *args)  # an exception is tagged by the scope's exit
            rowcount = getattr(self._cursor, "rowcount", -1)
            if isinstance(rowcount, int) and rowcount >= 0:
                scope.span.set_tag("db.rows_affected", rowcount)
        return result

    def execute(self, operation: Any, *args: Any) -> Any:
        result = self._traced(self._cursor.execute, operation, args, None)
        return self if result is self._cursor else result

    def executemany(self, operation: Any, seq_of_parameters: Any, *args: Any) -> Any:
        params = seq_of_parameters if isinstance(seq_of_parameters, Sequence) else list(seq_of_parameters)
        result = self._traced(self._cursor.executemany, operation, (params, *args), len(params))
        return self if result is self._cursor else result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self) -> TracedCursor:
        enter = getattr(self._cursor, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc: Any) -> Any:
        exit_ = getattr(self._cursor, "__exit__", None)
        return exit_(*exc) if exit_ is not None else self._cursor.close()


class TracedConnection:
    def __init__(self, connection: Any, settings: _Settings) -> None:
        self._connection = connection
        self._settings = settings

    def cursor(self, *args: Any, **kwargs: Any) -> TracedCursor:
        return TracedCursor(self._connection.cursor(*args, **kwargs), self._settings)

    # sqlite3's shortcuts, which run on a fresh cursor
    def execute(self, operation: Any, *args: Any) -> TracedCursor:
        return self.cursor().execute(operation, *args)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> TracedCursor:
        return self.cursor().executemany(operation, seq_of_parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __enter__(self) -> TracedConnection:
        self._connection.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._connection.__exit__(*exc)


def traced_connection(
    connection: Any, tracer: opentracing.Tracer | None = None, db_system: str = "other_sql", db_name: str | None = None
) -> TracedConnection:
    """Wrap an open DB-API connection."""
    return TracedConnection(connection, _Settings(tracer, db_system, db_name))


def connect(
    connect_fn: Callable[..., Any],
    *args: Any,
    tracer: opentracing.Tracer | None = None,
    db_system: str = "other_sql",
    db_name: str | None = None,
    **kwargs: Any,
) -> TracedConnection:
    """``connect_fn(*args, **kwargs)``, wrapped."""
    return traced_connection(connect_fn(*args, **kwargs), tracer, db_system, db_name)
