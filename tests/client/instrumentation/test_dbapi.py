"""The DB-API wrapper on sqlite3: spans per statement, errors, and full delegation."""

from __future__ import annotations

import sqlite3

import pytest

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.instrumentation.dbapi import connect


@pytest.fixture
def db():
    tracer = Tracer("svc", InMemoryReporter(), ConstSampler(True))
    conn = connect(sqlite3.connect, ":memory:", tracer=tracer, db_system="sqlite", db_name="main")
    yield tracer, conn
    conn.close()


def test_spans_per_statement(db):
    tracer, conn = db
    with tracer.start_active_span("request") as root:
        conn.execute("CREATE TABLE t (a INT)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(5)))
            cur.execute("  select a from t where a > ?", (1,))
            assert [r[0] for r in cur] == [2, 3, 4]
            assert cur.description[0][0] == "a"
        conn.commit()
    create, insert, select = tracer.reporter.spans[:3]
    assert [s.operation_name for s in (create, insert, select)] == ["CREATE", "INSERT", "SELECT"]
    assert all(s.parent_id == root.span.span_id for s in (create, insert, select))
    tags = dict(insert.tags)
    assert tags["db.rows_affected"] == 5 and tags["db.batch_size"] == 5 and tags["db.system"] == "sqlite"
    assert tags["db.name"] == "main" and tags["span.kind"] == "client"
    assert "db.rows_affected" not in dict(select.tags)  # sqlite reports -1 for SELECT


def test_errors_are_tagged_and_reraised(db):
    tracer, conn = db
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT * FROM missing")
    (span,) = tracer.reporter.spans
    assert ("error", True) in span.tags and dict(span.logs[0][1])["error.kind"] is sqlite3.OperationalError
