"""Service dependencies computed in SQL, across the day files of the window.

The rule of ``storage.dependency_links``: take every trace with a span that started in
``[end - lookback, end]``; in each such trace, for every span whose parent span is in the
trace (the last written one when a span ID repeats), count one call from the parent's
service to the span's service when they differ; and for every client or producer span
with a ``peer.service`` (the ``peers`` rows) that no span names as parent and no other
span shares the ID of, one call from its service to that peer.

The day files touching the window, and their neighbouring days (a trace written across
midnight lives in two files), are attached to one in-memory connection and a single SQL
statement does the join and the counting, so no span is decoded in Python; it works on
the narrow ``spans`` rows and on chunk IDs (a chunk is one trace), and only the few
resulting (parent name, child name) counts are mapped to services afterwards. SQLite attaches
at most 10 files; a longer window is computed in groups of consecutive days, which only
misses calls between spans written in different groups.

The statement is interrupted (SQLite's progress handler) once the request's deadline has
passed (``spyglass.storage.api.deadline``), and the call raises ``QueryTimeout``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable

from spyglass.model import DependencyLink
from spyglass.storage.api import DependencyReader
from spyglass.storage.api.deadline import current_deadline
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.days import DayDirectory

log = logging.getLogger(__name__)

_MAX_ATTACHED = 9
_PROGRESS_STEPS = 100_000  # SQLite VM steps between two looks at the request's deadline


_FILE = 40  # row IDs of different files are told apart by the file's number in bits 40 and up


def _sql(count: int, with_peers: list[int] | None = None) -> str:
    """One statement over ``count`` attached day files (``d0``...): number the traces (a
    chunk is one trace; the dense number keeps the big joins on small integers), take the
    traces with a span in the window, their spans, each child's parent (the last written
    when a span ID repeats), and count calls per (parent name, child name); names become
    services afterwards (few rows). Files listed in ``with_peers`` have a ``peers`` table;
    their leaf peer calls come back as rows (name, NULL, peer service, count)."""
    def each(template: str) -> str:
        return " UNION ALL ".join(template.format(i=i, f=_FILE) for i in range(count))

    chunks = each("SELECT id + ({i} << {f}) AS ch, trace_hi AS hi, trace_key AS tk FROM d{i}.chunks")
    in_window = each("SELECT chunk + ({i} << {f}) FROM d{i}.spans WHERE start BETWEEN :lo AND :hi")
    spans = each(
        "SELECT tc.tn, s.span_id AS sid, s.parent_id AS pid, s.name_id + ({i} << {f}) AS nm, "
        "((s.chunk + ({i} << {f})) << 16) + min(s.seq, 65535) AS ord "
        "FROM d{i}.spans s JOIN tc ON tc.ch = s.chunk + ({i} << {f})")
    peer_counts = ""
    peer_ctes = ""
    if with_peers:
        peer_rows = " UNION ALL ".join(
            f"SELECT tc.tn, p.span_id AS sid, p.name_id + ({i} << {_FILE}) AS nm, p.service AS peer "
            f"FROM d{i}.peers p JOIN tc ON tc.ch = p.chunk + ({i} << {_FILE})" for i in with_peers)
        # Set operations, not a correlated NOT EXISTS: the CTEs have no index of their own.
        peer_ctes = f""",
    pr AS MATERIALIZED ({peer_rows}),
    leaf AS MATERIALIZED (SELECT tn, sid FROM pr INTERSECT SELECT tn, sid FROM par WHERE n = 1
                          EXCEPT SELECT tn, pid FROM ws WHERE pid != 0)"""
        peer_counts = """UNION ALL
    SELECT pr.nm, NULL, pr.peer, count(*) FROM leaf JOIN pr ON pr.tn = leaf.tn AND pr.sid = leaf.sid
    GROUP BY pr.nm, pr.peer"""
    return f"""
    WITH ct AS MATERIALIZED (SELECT ch, dense_rank() OVER (ORDER BY hi, tk) AS tn FROM ({chunks})),
    wt AS MATERIALIZED (SELECT DISTINCT tn FROM ct WHERE ch IN ({in_window})),
    tc AS MATERIALIZED (SELECT ch, tn FROM ct WHERE tn IN wt),
    ws AS MATERIALIZED ({spans}),
    par AS MATERIALIZED (SELECT tn, sid, nm, max(ord), count(*) AS n FROM ws GROUP BY tn, sid),
    pairs AS MATERIALIZED (
        SELECT p.nm AS pn, c.nm AS cn FROM ws c JOIN par p ON p.tn = c.tn AND p.sid = c.pid WHERE c.pid != 0)
    {peer_ctes}
    SELECT pn, cn, NULL, count(*) FROM pairs GROUP BY pn, cn
    {peer_counts}
    """


class SqliteDependencyReader(DependencyReader):
    def __init__(self, days: DayDirectory, flush: Callable[[], None] | None = None) -> None:
        self.days = days
        self._flush = flush

    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        if self._flush is not None:
            self._flush()
        lo, hi = end_time_ns - lookback_ns, end_time_ns
        all_days = self.days.days()
        touching = set()
        for i, day in enumerate(all_days):
            with self.days.reading(day) as conn:
                if conn is not None and self.days.starts_within(conn, lo, hi):
                    touching.update(all_days[max(i - 1, 0):i + 2])
        chosen = [d for d in all_days if d in touching]
        counts: Counter[tuple[str, str]] = Counter()
        for i in range(0, len(chosen), _MAX_ATTACHED):
            counts.update(self._count(chosen[i:i + _MAX_ATTACHED], lo, hi))
        return [DependencyLink(p, c, n) for (p, c), n in sorted(counts.items())]

    def _count(self, days: list[str], lo: int, hi: int) -> Counter[tuple[str, str]]:
        deadline = current_deadline()
        if deadline is not None:
            deadline.check()
        conn = sqlite3.connect(":memory:", uri=True, isolation_level=None)
        conn.execute("PRAGMA cache_size=-65536")  # sorts beyond 64 MB spill to temporary files
        try:
            attached = 0
            for day in days:
                try:
                    conn.execute(f"ATTACH DATABASE ? AS d{attached}", (f"file:{self.days.path(day)}?mode=rw",))
                    schema.check_format(conn, schema.FORMAT, f"d{attached}")
                except (sqlite3.Error, schema.ForeignFile) as exc:
                    log.warning("dependencies: skipping %s: %s", self.days.path(day), exc)
                    try:
                        conn.execute(f"DETACH DATABASE d{attached}")
                    except sqlite3.Error:
                        pass
                    continue
                attached += 1
            if not attached:
                return Counter()
            conn.execute("PRAGMA query_only=1")
            with_peers = [i for i in range(attached) if conn.execute(
                f"SELECT 1 FROM d{i}.sqlite_master WHERE type = 'table' AND name = 'peers'").fetchone()]
            if deadline is not None:
                # SQLite calls this every N virtual-machine steps; non-zero interrupts the statement.
                conn.set_progress_handler(deadline.expired, _PROGRESS_STEPS)
            rows = conn.execute(_sql(attached, with_peers), {"lo": lo, "hi": hi}).fetchall()
            services = {
                (i << _FILE) + nid: service
                for i in range(attached)
                for nid, service in conn.execute(f"SELECT id, service FROM d{i}.names")
            }
        except sqlite3.DatabaseError as exc:
            if deadline is not None and deadline.expired():
                raise deadline.error() from None
            log.warning("dependencies query failed: %s", exc)
            return Counter()
        finally:
            conn.close()
        counts: Counter[tuple[str, str]] = Counter()
        for parent, child, peer, n in rows:
            caller = services.get(parent, "")
            key = (caller, peer) if peer is not None else (caller, services.get(child, ""))
            if key[0] != key[1]:
                counts[key] += n
        return counts

