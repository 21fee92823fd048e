"""The sqlite backend: the default persistent store, one SQLite file per UTC day.

What an operator can rely on:

* **Layout.** ``<data-dir>/YYYY-MM-DD.db`` holds the spans *written* on that UTC day (WAL
  mode), ``index.db`` maps trace IDs to days, ``archive/`` is the archive store (same
  layout, never expires). Each day file is self-contained: its zstd dictionaries, its
  service/operation names and its own trace index are inside it.
* **Durability.** ``write_spans`` returns once the spans are in the open transaction, where
  readers of the same process already see them. The transaction commits (fsync'd) when its
  oldest batch is half ``--sqlite.commit-interval`` old (default 1 s), so the commit
  interval is the longest an acknowledged span can be lost by a crash (``kill -9``, power
  loss); SQLite's WAL means a crash never corrupts a file, and start-up opens what is
  there. Readers in another process see spans once they are committed.
* **Retention.** ``--sqlite.retention`` (Go duration, default ``72h``; ``0`` keeps
  everything): a day file is deleted once its whole day is older than that, so data is
  kept at least the retention and at most one day more. Deleting a file gives the space
  back at once. A trace written across midnight lives in two files and comes back whole.
* **Processes.** One process writes a data directory (a lock file enforces it, taken at
  start-up by ``prepare_writes`` before any span is accepted, so a second writer fails to
  start with a clear line); any number of processes may read it at the same time.
* **Failures.** A full disk or a read-only directory makes ``write_spans`` raise
  ``StorageWriteError`` with the reason (the span processor counts the drop); acknowledged
  spans not yet committed are held and committed when writing works again. Meanwhile
  ``check()`` reports unhealthy (as it does when the lock file was taken by another
  process), so the collector answers retryable errors instead of acknowledging. A corrupt or
  foreign file in the data directory is logged and skipped (a corrupt file for the current
  day is moved aside as ``*.corrupt-<time>``).

Modules: ``days.py`` (files, retention), ``schema.py`` (tables), ``rows.py`` (span blobs),
``compression.py`` (zstd dictionaries), ``tagindex.py`` (tag words), ``traceindex.py``
(trace -> day), ``writer.py``, ``search.py``, ``reader.py``, ``dependencies.py``,
``store.py``; ``factory.py`` wires them from ``SqliteConfig``.
"""

from spyglass.storage.sqlite.factory import SqliteConfig, SqliteFactory

__all__ = ["SqliteConfig", "SqliteFactory"]
