"""The clickhouse schema: its DDL for one server version and topology, and its version.

Tables (``archive_`` in front of each for the archive store, which has no retention):

* ``spans``: one row per span, its content as a payload (``payload.py``: the span without
  the row's ``span_id`` and ``start_ns``), ordered by trace ID, so a trace is one
  primary-key range.
* ``span_index``: one row per span for search, ordered by (service, operation, start), with
  every searchable (key, string value) pair of the span in ``tag_keys``/``tag_values``.
* ``tag_index`` (``base`` variant only): where each (key, string value) pair of a service's
  spans is: ``cityHash64(service, key, value)``, the start second and the operation, one row
  per span and pair as written, merged into one per (pair, second, operation)
  (``ReplacingMergeTree``: a search needs the places, not the spans); filled by ClickHouse
  itself (the materialized view ``tag_index_mv`` over ``span_index`` inserts). Servers without skip
  indexes would otherwise read every ``span_index`` row of a service in the window to find
  one rare value; with it a search first reads the value's few rows, then only the
  (operation, second) ranges of ``span_index`` they name (``reader.py``). The operation is
  what makes that second read small: 18.16 does not narrow ``span_index`` (ordered by
  service, operation, start) by start time alone. A hash collision only adds ranges the
  search's exact conditions then drop. Hashes, not the strings, as the key: on 18.16 a view
  keyed by (service, key, value) strings cost the server 43-45 µs/span against 14 without a
  view (300,000 benchmark spans, 17 pairs each); keyed by the hash 19-29; without the
  trace ID column a first version had, and replacing, 26 against 29 (tag_index 82 against
  164 bytes/span once merged). Current servers have the bloom-filter index instead and are
  spared its cost.
* ``trace_ranges``: trace ID -> first and last span start per write, so a trace lookup
  reads only the days (partitions) the trace has spans in.
* ``operations``: (service, operation, span kind) per day.
* ``dependencies``: calls parent service -> child service per minute, summed by ClickHouse
  (``SummingMergeTree``), written by the writer as spans arrive.
* ``schema_version``: the version of this layout, so a later release can migrate it.

Every table is partitioned by UTC day. Retention: ``TTL`` on servers that have it, whole
day partitions dropped by the writer otherwise. Two variants: ``base`` (what 18.16
accepts: no TTL, codecs, skip indexes or LowCardinality) and ``current`` (ZSTD codecs,
LowCardinality, a bloom-filter index on tag values, TTL), chosen from the server version.
Codecs measured on chdb with the benchmark's spans (bytes/span of the whole database,
100,000 spans): payloads and tag values, most of the bytes, ZSTD level 9 (118 -> 99 against
level 3 and LZ4 IDs); schema version 2's payload (``payload.py``) 99 -> 82; ``T64`` for
start times sorted by trace and for random durations (whose high bits are all the same),
ZSTD level 9 for ``span_index.trace_hi`` (the spans of a trace match each other within a
block) 82 -> 79.4. ``Delta`` stays where times are sorted (``span_index`` within an
operation); ``DoubleDelta`` and ZSTD above 9 measured no better. The bloom filter's false
positive rate is the engine's default, 0.025: 3.8 bytes/span against 4.8 at 0.01 (200,000
spans); a rare-tag search still skips about 97.5% of the granules without the value.

With a cluster, each table is ``<name>_local`` on every node (created ``ON CLUSTER``,
``Replicated*MergeTree`` with replication) and ``<name>`` is a ``Distributed`` table over
them, sharded by ``cityHash64`` of the trace ID so a whole trace stays on one shard.
"""

from __future__ import annotations

from dataclasses import dataclass

# 1: payloads were sqlite chunks. 2: ``payload.py``'s (no span ID or start, event times
# relative): a version 1 database is read as it is and marked 2 when this release opens it.
# 3: ``tag_index`` on the base variant, filled from ``span_index`` for the spans written
# before it when this release opens an older database (``backfill_statements``).
VERSION = 3
PAYLOAD_VERSION = 2  # the oldest version whose payloads this release writes (older releases must refuse)
TAG_INDEX_SINCE = 3
CURRENT_SINCE = (21, 8)  # the oldest server given the "current" variant (TTL, codecs, indexes)
TABLES = ("spans", "span_index", "tag_index", "trace_ranges", "operations", "dependencies")
BUCKET_SECONDS = 60  # the dependency rollup's time resolution

_MAX_TTL = 30 * 365 * 86_400  # beyond this a TTL would overflow DateTime (2106): keep everything
_DAY = "toDate(toDateTime(intDiv({col}, 1000000000), 'UTC'))"
UINT32_MAX = 4_294_967_295  # tag_index start seconds are clamped into UInt32 (spans after 2106 share the last)
PAIR = "cityHash64({service}, {key}, {value})"  # tag_index's key: service, tag key and value in 8 bytes
_START_SECOND = f"toUInt32(least(greatest(intDiv(start_ns, 1000000000), 0), {UINT32_MAX}))"


class SchemaError(RuntimeError):
    """The database holds a schema this version cannot use."""


def parse_version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)


def variant_for(version: tuple[int, int]) -> str:
    return "current" if version >= CURRENT_SINCE else "base"


@dataclass(frozen=True, slots=True)
class Layout:
    """What the DDL depends on: database, cluster, replication, variant, retention."""

    database: str = "spyglass"
    cluster: str = ""
    replication: bool = False
    variant: str = "base"
    retention_seconds: int = 0

    @property
    def current(self) -> bool:
        return self.variant == "current"

    @property
    def tag_index(self) -> bool:
        """Whether the schema has ``tag_index`` (servers without skip indexes)."""
        return not self.current

    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def local(self, table: str) -> str:
        """The name of the table that holds the rows (``_local`` under a Distributed one)."""
        return f"{table}_local" if self.cluster else table

    def engine(self, table: str, kind: str = "MergeTree", args: str = "") -> str:
        if self.replication:
            path = f"'/clickhouse/tables/{{shard}}/{self.database}/{table}', '{{replica}}'"
            return f"Replicated{kind}({path}{', ' + args if args else ''})"
        return f"{kind}({args})"

    def string(self) -> str:
        return "LowCardinality(String)" if self.current else "String"

    def codec(self, text: str) -> str:
        return f" CODEC({text})" if self.current else ""

    def ttl(self, column_seconds: str, archive: bool) -> str:
        if not self.current or archive or not 0 < self.retention_seconds <= _MAX_TTL:
            return ""
        return f" TTL toDateTime({column_seconds}) + toIntervalSecond({int(self.retention_seconds)})"

    def settings(self, granularity: int = 8192) -> str:
        extra = ", ttl_only_drop_parts = 1" if self.current and self.retention_seconds > 0 else ""
        return f" SETTINGS index_granularity = {granularity}{extra}"


def _tables(layout: Layout, prefix: str) -> list[tuple[str, str, str, str]]:
    """(table, columns, engine clause, sharding key) for one store (``prefix`` ``""`` or ``archive_``)."""
    archive = bool(prefix)
    lc = layout.string()
    day_ns = _DAY.format(col="start_ns")
    sec_ns = "intDiv(start_ns, 1000000000)"
    trace_key = "cityHash64(trace_hi, trace_lo)"
    bloom = ", INDEX tag_values_bloom tag_values TYPE bloom_filter(0.025) GRANULARITY 1" if layout.current else ""
    e = layout.engine
    return [
        (f"{prefix}spans",
         f"trace_hi UInt64{layout.codec('ZSTD(1)')}, trace_lo UInt64{layout.codec('ZSTD(1)')}, "
         f"span_id UInt64{layout.codec('Delta, ZSTD(1)')}, start_ns Int64{layout.codec('T64, ZSTD(1)')}, "
         f"service {lc}, payload String{layout.codec('ZSTD(9)')}",
         f"{e(prefix + 'spans')} PARTITION BY {day_ns} ORDER BY (trace_hi, trace_lo, start_ns)"
         f"{layout.ttl(sec_ns, archive)}{layout.settings(1024)}",
         trace_key),
        (f"{prefix}span_index",
         f"service {lc}, operation {lc}, start_ns Int64{layout.codec('Delta, ZSTD(1)')}, "
         f"duration_ns Int64{layout.codec('T64, ZSTD(3)')}, trace_hi UInt64{layout.codec('ZSTD(9)')}, "
         f"trace_lo UInt64{layout.codec('ZSTD(1)')}, tag_keys Array({lc}){layout.codec('ZSTD(1)')}, "
         f"tag_values Array(String){layout.codec('ZSTD(9)')}{bloom}",
         f"{e(prefix + 'span_index')} PARTITION BY {day_ns} ORDER BY (service, operation, start_ns)"
         f"{layout.ttl(sec_ns, archive)}{layout.settings()}",
         trace_key),
        *([(f"{prefix}tag_index",
            f"pair UInt64, start_s UInt32, operation {lc}",
            f"{e(prefix + 'tag_index', 'ReplacingMergeTree')} PARTITION BY toDate(toDateTime(start_s, 'UTC')) "
            f"ORDER BY (pair, start_s, operation){layout.settings()}",
            "pair")] if layout.tag_index else []),
        (f"{prefix}trace_ranges",
         f"trace_hi UInt64{layout.codec('ZSTD(1)')}, trace_lo UInt64{layout.codec('ZSTD(1)')}, "
         f"start_min Int64{layout.codec('T64, ZSTD(1)')}, start_max Int64{layout.codec('T64, ZSTD(1)')}",
         f"{e(prefix + 'trace_ranges')} PARTITION BY {_DAY.format(col='start_min')} ORDER BY (trace_hi, trace_lo)"
         f"{layout.ttl('intDiv(start_max, 1000000000)', archive)}{layout.settings(1024)}",
         trace_key),
        (f"{prefix}operations",
         f"day Date, service {lc}, operation {lc}, kind {lc}",
         f"{e(prefix + 'operations', 'ReplacingMergeTree')} PARTITION BY day ORDER BY (service, operation, kind)"
         f"{layout.ttl('day', archive)}{layout.settings()}",
         "cityHash64(service)"),
        (f"{prefix}dependencies",
         f"bucket UInt32, parent {lc}, child {lc}, calls Int64",
         f"{e(prefix + 'dependencies', 'SummingMergeTree', '(calls)')} PARTITION BY toDate(toDateTime(bucket, 'UTC')) "
         f"ORDER BY (bucket, parent, child){layout.ttl('bucket', archive)}{layout.settings()}",
         "cityHash64(parent, child)"),
    ]


def statements(layout: Layout, *, archive: bool = True) -> list[str]:
    """Every statement that creates the schema, in order; each is idempotent."""
    db, oc = layout.database, layout.on_cluster()
    out = [f"CREATE DATABASE IF NOT EXISTS {db}{oc}"]
    tables = _tables(layout, "") + (_tables(layout, "archive_") if archive else [])
    tables.append(("schema_version", "version UInt32, variant String, created DateTime",
                   f"{layout.engine('schema_version', 'ReplacingMergeTree')} ORDER BY version", "rand()"))
    for table, columns, engine, shard_key in tables:
        out.append(f"CREATE TABLE IF NOT EXISTS {db}.{layout.local(table)}{oc} ({columns}) ENGINE = {engine}")
        if layout.cluster:
            out.append(f"CREATE TABLE IF NOT EXISTS {db}.{table}{oc} AS {db}.{layout.local(table)} "
                       f"ENGINE = Distributed({layout.cluster}, {db}, {layout.local(table)}, {shard_key})")
    if layout.tag_index:
        for prefix in ("", "archive_") if archive else ("",):
            # On each node, over its own rows (a replica fetches the other's index parts).
            source = f"{db}.{layout.local(prefix + 'span_index')}"
            out.append(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{prefix}tag_index_mv{oc} "
                       f"TO {db}.{layout.local(prefix + 'tag_index')} AS {_tag_rows(source)}")
    return out


def _tag_rows(span_index: str) -> str:
    return (f"SELECT {PAIR.format(service='service', key='key', value='value')} AS pair, "
            f"{_START_SECOND} AS start_s, operation FROM {span_index} "
            "ARRAY JOIN tag_keys AS key, tag_values AS value")


def backfill_statements(layout: Layout) -> list[str]:
    """What fills ``tag_index`` from the ``span_index`` rows written before the index existed
    (a database of an older version). Rows written meanwhile may be indexed twice: a
    duplicate names the same place, changes no answer and is merged away."""
    if not layout.tag_index:
        return []
    db = layout.database
    return [f"INSERT INTO {db}.{prefix}tag_index {_tag_rows(db + '.' + prefix + 'span_index')}"
            for prefix in ("", "archive_")]


def script(layout: Layout) -> str:
    """The DDL as a script operators can run by hand (``spyglass clickhouse-schema``)."""
    lines = [f"-- Spyglass clickhouse schema version {VERSION} ({layout.variant} variant)"]
    lines += [s + ";" for s in statements(layout)]
    lines.append(f"INSERT INTO {layout.database}.schema_version (version, variant, created) "
                 f"SELECT {VERSION}, '{layout.variant}', now();")
    return "\n".join(lines) + "\n"
