"""The capacity model behind ``spyglass capacity`` and docs/scaling.md: how many processes,
cores, memory and disk a deployment needs for a span rate and a retention.

Every figure is CPU time per span or bytes per span measured on this project's machine
(``bench/capacity.py`` with ``spyglass tracegen``, and the benchmarks in docs/benchmarks.md),
because CPU time per span carries over to other machines where spans/s on a shared 2-core
machine does not. A Python process is one core at most (the GIL), so a role needs
``ceil(rate x cpu_per_span / utilisation)`` processes of one core each. The constants below
say where each figure comes from; the ones under "assumed" are not measured here.
``TOPOLOGY_RUNS`` and ``checks()`` hold the measured configurations the model is checked on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# -- measured (docs/scaling.md "Measured figures") ------------------------------------------
# CPU µs per span of a collector on memory storage (receive, decode, validate, queue), per
# format, tracegen traces of 7 spans with 8 attributes and 1 event, batches of 1,000
# (UDP: 70 per packet). bench/capacity.py, 2026-12-05.
COLLECTOR_US_PER_SPAN = {
    "otlp-grpc": 28.7,
    "otlp-http": 28.0,
    "jaeger-grpc": 36.8,
    "jaeger-http": 30.0,
    "jaeger-udp": 33.0,
    "zipkin": 28.6,
}
# The sqlite writer on top (encode, compress, index, commit): sqlite-1 (52.4 and 52.7 µs/span
# in two runs, OTLP gRPC) minus memory-otlp-grpc (28.7).
SQLITE_WRITER_US_PER_SPAN = 24.0
# A collector writing to ClickHouse (decode, build the columns, serialise the insert), OTLP
# gRPC: the mean of 6 runs of 1, 2 and 4 all-in-ones on 1 node and on 2 shards, 55.2-60.8
# µs/span (bench/capacity.py aio-ch1-*, aio-ch2s-*, 2026-12-06).
CLICKHOUSE_COLLECTOR_US_PER_SPAN = 57.8
# clickhouse-server CPU per span = a per-row cost + a per-insert cost spread over the rows of
# the insert (each insert writes a part per table, merged later). Fitted (least relative
# error) on 12 single-node points: bench/capacity.py insert-size (500, 2,000, 10,000 rows,
# 64.7-72.8, 25.2-28.3, 8.8-14.1 µs/span) and the topology runs (1,402-9,454 rows, 8.3-20.9).
CLICKHOUSE_SERVER_US_PER_ROW = 6.2
CLICKHOUSE_SERVER_US_PER_INSERT = 30_200.0
# Rows per insert: a writer inserts what arrived each --clickhouse.flush-interval (1 s), at
# most --clickhouse.batch-size (10,000) at a time; ingesters combine fetches the same way.
CLICKHOUSE_BATCH_SIZE = 10_000
CLICKHOUSE_FLUSH_INTERVAL_S = 1.0
# Sharded (Distributed tables, 2 shards + ZooKeeper): both servers together, over the
# single-node figure at the same insert size: 0.97-1.89 in 4 runs (aio-ch2s-1/2/4,
# nats-ch2s-2), mean 1.42 (the Distributed insert's split and forward).
CLICKHOUSE_SHARDED_FACTOR = 1.4
# The agent (docs/benchmarks.md "Agent"): 9-22 µs per span; the upper figure.
AGENT_US_PER_SPAN = 22.0
# Bytes per span on disk: sqlite 121-133 (benchmarks, make_spans shape), ClickHouse 18.16
# 124, the current engine 80 (schema version 2, 10M spans); sqlite with tracegen's shape: see doc.
BYTES_PER_SPAN = {"sqlite": 133, "clickhouse": 124, "clickhouse-current": 80}
# Peak RSS of one collector or all-in-one process under full load: 82-353 MB in bench/capacity.py's
# runs, 439 MB for an all-in-one on sqlite kept saturated (its 100,000-span queue full) in
# bench/workers.py; a --workers parent 334 and each worker ~135-150 MB there.
PROCESS_MEMORY_MB = 450
# NATS JetStream (file storage, R1): nats-server CPU per span in messages of 1,000 spans,
# 4.1-5.6 µs/span in nats-ch1-1/2/4 and nats-ch2s-2 (2026-12-06), mean 5.0: 200,000 spans/s
# per core. Its cost is per message more than per span: smaller requests cost more per span.
NATS_SERVER_US_PER_SPAN = 5.0
NATS_SPANS_PER_CORE = round(1e6 / NATS_SERVER_US_PER_SPAN)
# A collector publishing to NATS instead of writing: the receive figure + 3.1 µs/span (encode
# the batch, publish, wait for the acknowledgement): nats-ch* collectors 30.5-32.8 µs/span.
NATS_COLLECTOR_EXTRA_US = 3.1
# An ingester inserting into ClickHouse (fetch, decode the buffer's records, build the
# columns, insert, acknowledge): 45.9-53.9 µs/span in nats-ch1-1/2/4 and nats-ch2s-2, mean 48.5.
INGESTER_CLICKHOUSE_US_PER_SPAN = 48.5
# Bytes per span in the buffer: OTLP protobuf wire size (docs/benchmarks.md "Ingest", 319-330).
BUFFER_BYTES_PER_SPAN = 330

# -- assumed (not measurable here; docs/scaling.md says why) --------------------------------
CLICKHOUSE_NODE_MEMORY_MB = 4096
CLICKHOUSE_DISK_PER_NODE_GB = 1000.0  # default; --disk-per-node changes it
NATS_NODE_MEMORY_MB = 512
ZOOKEEPER_NODES = 3
ZOOKEEPER_MEMORY_MB = 1024
QUERY_MEMORY_MB = 400  # a query process holding the largest allowed answer (README limits)

# The model's answers vs. the measured configurations (docs/scaling.md): CPU per span of the
# Spyglass processes, and of the servers (ClickHouse, NATS), whose cost depends on insert sizes
# and on when merges run, and moved by up to 1.6x between runs of the same configuration here.
TOLERANCE = 0.15
SERVER_TOLERANCE = 0.50


def clickhouse_server_us(rows_per_insert: float, shards: int = 1) -> float:
    """clickhouse-server CPU µs per span inserted (all nodes of one copy together)."""
    rows = max(1.0, rows_per_insert)
    return (CLICKHOUSE_SERVER_US_PER_ROW + CLICKHOUSE_SERVER_US_PER_INSERT / rows) * (
        CLICKHOUSE_SHARDED_FACTOR if shards > 1 else 1.0)


def rows_per_insert(rate_per_writer: float) -> float:
    """Rows per insert of a writer (collector or ingester) taking ``rate_per_writer`` spans/s."""
    return max(1.0, min(CLICKHOUSE_BATCH_SIZE, rate_per_writer * CLICKHOUSE_FLUSH_INTERVAL_S))


@dataclass(frozen=True)
class Check:
    """A configuration run on this machine: what was measured, and what the model says."""

    name: str
    what: str  # "spans/s" (saturated throughput) or "us/span" (CPU per span)
    measured: float
    predicted: float
    source: str
    machine_bound: bool = False  # the processes did not get the core each the model assumes
    server: bool = False  # clickhouse-server or nats-server CPU: SERVER_TOLERANCE

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured

    @property
    def tolerance(self) -> float:
        return SERVER_TOLERANCE if self.server else TOLERANCE


# Runs of bench/capacity.py on 2026-12-06 (OTLP gRPC from one tracegen per collector, 8,000
# spans/s in all, requests of 1,000 spans, 12 s): name -> (collectors, ingesters, shards,
# rows per insert, {role: measured CPU µs per span}, load average during the run).
TOPOLOGY_RUNS: dict[str, tuple[int, int, int, float, dict[str, float], str]] = {
    "aio-ch1-1": (1, 0, 1, 7997, {"collector": 55.2, "clickhouse-server": 9.5}, "5.9-6.2"),
    "aio-ch1-2": (2, 0, 1, 3244, {"collector": 58.3, "clickhouse-server": 20.6}, "5.9-6.7"),
    "aio-ch1-4": (4, 0, 1, 1402, {"collector": 58.1, "clickhouse-server": 20.9}, "6.5-9.6"),
    "aio-ch2s-1": (1, 0, 2, 5698, {"collector": 57.7, "clickhouse-server": 14.2}, "9.0-9.1"),
    "aio-ch2s-2": (2, 0, 2, 3710, {"collector": 56.6, "clickhouse-server": 23.0}, "8.5-8.7"),
    "aio-ch2s-4": (4, 0, 2, 1050, {"collector": 60.8, "clickhouse-server": 33.8}, "8.6-12.5"),
    "nats-ch1-1": (1, 1, 1, 9454, {"collector": 32.8, "ingester": 53.9, "nats-server": 5.1,
                                   "clickhouse-server": 8.3}, "4.3-4.8"),
    "nats-ch1-2": (2, 2, 1, 7392, {"collector": 30.7, "ingester": 47.2, "nats-server": 5.6,
                                   "clickhouse-server": 10.9}, "4.6-5.1"),
    "nats-ch1-4": (4, 2, 1, 8008, {"collector": 30.5, "ingester": 45.9, "nats-server": 4.1,
                                   "clickhouse-server": 8.7}, "4.8-5.7"),
    "nats-ch2s-2": (2, 2, 2, 8258, {"collector": 30.7, "ingester": 46.9, "nats-server": 5.3,
                                    "clickhouse-server": 18.6}, "5.3-7.1"),
}
# bench/capacity.py --only insert-size: clickhouse-server µs/span at a fixed insert size (two runs).
INSERT_SIZE_RUNS = {500: (72.8, 64.7), 2000: (25.2, 28.3), 10_000: (8.8, 14.1)}


def predicted_us(role: str, buffered: bool, shards: int, rows: float) -> float:
    """The model's CPU µs per span of ``role`` in a measured topology (OTLP gRPC ingest)."""
    if role == "collector":
        return (COLLECTOR_US_PER_SPAN["otlp-grpc"] + NATS_COLLECTOR_EXTRA_US if buffered
                else CLICKHOUSE_COLLECTOR_US_PER_SPAN)
    if role == "ingester":
        return INGESTER_CLICKHOUSE_US_PER_SPAN
    if role == "nats-server":
        return NATS_SERVER_US_PER_SPAN
    return clickhouse_server_us(rows, shards)


def checks() -> list[Check]:
    """The model against every configuration measured here (docs/scaling.md "Check")."""
    sqlite_us = COLLECTOR_US_PER_SPAN["otlp-grpc"] + SQLITE_WRITER_US_PER_SPAN
    two_cores = 2 * 1e6 / (CLICKHOUSE_COLLECTOR_US_PER_SPAN + clickhouse_server_us(CLICKHOUSE_BATCH_SIZE))
    out = [
        Check("sqlite, 2 all-in-one processes (own data dirs), OTLP gRPC", "us/span", 56.9, sqlite_us,
              "bench/capacity.py sqlite-2"),
        Check("sqlite, 1 all-in-one saturated by 3 tracegen workers (load average 6)", "us/span", 59.4, sqlite_us,
              "bench/capacity.py --only sqlite-1 --workers 3"),
    ]
    for name, (collectors, ingesters, shards, rows, measured, _load) in TOPOLOGY_RUNS.items():
        where = f"{shards} shard{'s' if shards > 1 else ''}"
        what = (f"{collectors} collector(s) + NATS + {ingesters} ingester(s)" if ingesters
                else f"{collectors} all-in-one(s)")
        for role, value in measured.items():
            out.append(Check(f"{name}: {role} ({what}, {where})", "us/span", value,
                             predicted_us(role, bool(ingesters), shards, rows), f"bench/capacity.py {name}",
                             server=role.endswith("-server")))
    for rows, values in INSERT_SIZE_RUNS.items():
        for i, value in enumerate(values):
            out.append(Check(f"insert-size {rows} rows, run {i + 1}: clickhouse-server", "us/span", value,
                             clickhouse_server_us(rows), "bench/capacity.py insert-size", server=True))
    out += [
        Check("benchmark: ClickHouse one node, 2 collectors, 2 shared cores", "spans/s", 22_136, two_cores,
              "docs/benchmarks.md ClickHouse", machine_bound=True),
        Check("benchmark: ClickHouse 2 shards, 2 collectors, 2 shared cores", "spans/s", 17_232, two_cores,
              "docs/benchmarks.md ClickHouse", machine_bound=True),
    ]
    return out


@dataclass
class Role:
    name: str
    processes: int
    cores: float
    memory_mb: float
    disk_gb: float = 0.0
    why: str = ""


@dataclass
class Plan:
    roles: list[Role]
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def totals(self) -> Role:
        return Role("total", sum(r.processes for r in self.roles), sum(r.cores for r in self.roles),
                    sum(r.memory_mb for r in self.roles), sum(r.disk_gb for r in self.roles))


@dataclass(frozen=True)
class Load:
    spans_per_second: float
    retention_s: float = 7 * 86400
    replicas: int = 1
    storage: str = "sqlite"  # sqlite | clickhouse
    buffer: str = ""  # "" | nats
    protocol: str = "otlp-grpc"
    utilisation: float = 0.6  # share of each core the plan may use at the given rate
    min_collectors: int = 1
    query_processes: int = 1
    agent: bool = False
    clickhouse_engine: str = "18.16"  # or current
    bytes_per_span: float = 0.0  # 0: the measured figure of the storage
    buffer_window_s: float = 3600.0
    disk_per_node_gb: float = CLICKHOUSE_DISK_PER_NODE_GB

    def __post_init__(self) -> None:
        if self.spans_per_second <= 0:
            raise ValueError("--spans-per-second must be more than 0")
        if self.replicas < 1:
            raise ValueError("--replicas must be at least 1")
        if self.storage not in ("sqlite", "clickhouse"):
            raise ValueError("--storage must be sqlite or clickhouse")
        if self.buffer not in ("", "none", "nats"):
            raise ValueError("--buffer must be none or nats")
        if self.protocol not in COLLECTOR_US_PER_SPAN:
            raise ValueError(f"--protocol must be one of {', '.join(COLLECTOR_US_PER_SPAN)}")
        if not 0 < self.utilisation <= 1:
            raise ValueError("--utilisation must be in (0, 1]")


def processes_for(rate: float, us_per_span: float, utilisation: float) -> int:
    """One-core processes needed to carry ``rate`` at ``utilisation`` of each core."""
    return max(1, math.ceil(rate * us_per_span / 1e6 / utilisation))


def throughput(processes: int, us_per_span: float) -> float:
    """Spans/s ``processes`` one-core processes carry when saturated (the model's prediction)."""
    return processes * 1e6 / us_per_span


def plan(load: Load) -> Plan:
    """The deployment for ``load``."""
    n, u = load.spans_per_second, load.utilisation
    buffered = load.buffer == "nats"
    out = Plan([])
    a = out.assumptions
    a.append(f"{n:,.0f} spans/s, retention {load.retention_s / 86400:g} days, {load.replicas} replica(s), "
             f"{load.storage} storage, {'NATS buffer' if buffered else 'no buffer'}, {load.protocol} ingest")
    a.append(f"each Python process is one core at most; plan keeps cores {u:.0%} busy at this rate")
    receive = COLLECTOR_US_PER_SPAN[load.protocol]
    if load.storage == "sqlite":
        if load.replicas > 1:
            raise ValueError("sqlite keeps one copy: use --storage clickhouse for --replicas above 1")
        writer = receive + SQLITE_WRITER_US_PER_SPAN
        max_rate = throughput(1, writer if not buffered else SQLITE_WRITER_US_PER_SPAN + 5.0) * u
        if n > max_rate:
            out.warnings.append(
                f"sqlite has one writer per data directory, which carries about {max_rate:,.0f} spans/s "
                f"at {u:.0%} of a core: beyond that use --storage clickhouse")
    bytes_per_span = load.bytes_per_span or (
        BYTES_PER_SPAN["sqlite"] if load.storage == "sqlite"
        else BYTES_PER_SPAN["clickhouse-current" if load.clickhouse_engine == "current" else "clickhouse"])
    a.append(f"{receive:g} µs of CPU per span to receive and decode {load.protocol} (measured)")
    stored_gb = n * load.retention_s * bytes_per_span / 1e9
    a.append(f"{bytes_per_span:g} bytes per span stored (measured, {load.storage}); "
             f"+20% free space for merges and day files in flight")

    # collectors
    if buffered:
        per_span = receive + NATS_COLLECTOR_EXTRA_US
        why = "receive, decode, publish to NATS"
    elif load.storage == "sqlite":
        per_span = receive + SQLITE_WRITER_US_PER_SPAN
        why = "receive, decode and write sqlite in one process"
    else:
        per_span = CLICKHOUSE_COLLECTOR_US_PER_SPAN
        why = "receive, decode and insert into ClickHouse"
    collectors = max(load.min_collectors, processes_for(n, per_span, u))
    if load.storage == "sqlite" and not buffered:
        collectors = 1
        why += " (one writer per data directory)"
    out.roles.append(Role("collector", collectors, collectors, collectors * PROCESS_MEMORY_MB,
                          stored_gb * 1.2 if load.storage == "sqlite" else 0.0, f"{per_span:.0f} µs/span: {why}"))

    if buffered:
        ingest_us = SQLITE_WRITER_US_PER_SPAN + 5.0 if load.storage == "sqlite" else INGESTER_CLICKHOUSE_US_PER_SPAN
        ingesters = 1 if load.storage == "sqlite" else processes_for(n, ingest_us, u)
        a.append(f"ingesters: the storage write ({ingest_us:.0f} µs/span) including ~5 µs/span to decode the buffer's "
                 "records (assumed: the WAL's encoding measured ~1 µs/span to encode)" if load.storage == "sqlite"
                 else f"ingesters: fetch, decode and insert into ClickHouse ({ingest_us:g} µs/span, measured)")
        out.roles.append(Role("ingester", ingesters, ingesters, ingesters * PROCESS_MEMORY_MB,
                              stored_gb * 1.2 if load.storage == "sqlite" else 0.0,
                              f"{ingest_us:.0f} µs/span: NATS to storage"))
        if load.storage == "sqlite":
            out.roles[0].disk_gb = 0.0
        nats_nodes = 1 if load.replicas == 1 else max(3, load.replicas)
        nats_cores = max(1.0, math.ceil(n / NATS_SPANS_PER_CORE / u))
        buffer_gb = n * load.buffer_window_s * BUFFER_BYTES_PER_SPAN * min(load.replicas, nats_nodes) / 1e9 / nats_nodes
        out.roles.append(Role("nats-server", nats_nodes, nats_nodes * nats_cores, nats_nodes * NATS_NODE_MEMORY_MB,
                              nats_nodes * buffer_gb * 1.2,
                              f"JetStream R{min(load.replicas, nats_nodes)}, {load.buffer_window_s / 3600:g} h of backlog"))
        a.append(f"NATS: {NATS_SPANS_PER_CORE:,} spans/s per core (measured, messages of 1,000 spans), "
                 f"{BUFFER_BYTES_PER_SPAN} bytes per span buffered, {load.buffer_window_s / 3600:g} h backlog kept")

    if load.storage == "clickhouse":
        per_copy_gb = stored_gb * 1.2
        writers = out.roles[1].processes if buffered else collectors  # who inserts: ingesters or collectors
        rows = rows_per_insert(n / writers)
        shards = max(1, math.ceil(per_copy_gb / load.disk_per_node_gb),
                     math.ceil(n * clickhouse_server_us(rows) / 1e6 / u / 8))  # <= 8 insert cores a node
        server_us = clickhouse_server_us(rows, shards)
        insert_cores = n * server_us / 1e6 / u
        nodes = shards * load.replicas
        node_cores = max(2, math.ceil(insert_cores * load.replicas / nodes) + 1)  # +1 for merges and queries
        out.roles.append(Role("clickhouse-server", nodes, nodes * node_cores, nodes * CLICKHOUSE_NODE_MEMORY_MB,
                              per_copy_gb * load.replicas,
                              f"{shards} shard(s) x {load.replicas} replica(s), {per_copy_gb / shards:,.0f} GB per node"))
        a.append(f"ClickHouse: {server_us:.1f} µs of server CPU per span inserted, per copy: {CLICKHOUSE_SERVER_US_PER_ROW:g} "
                 f"per row + {CLICKHOUSE_SERVER_US_PER_INSERT / 1000:g} ms per insert over {rows:,.0f} rows per insert "
                 f"({writers} writer(s)){f', x{CLICKHOUSE_SHARDED_FACTOR:g} sharded' if shards > 1 else ''} (measured "
                 f"on 1 node and 2 shards), +1 core per node for merges and queries; {CLICKHOUSE_NODE_MEMORY_MB} MB per node "
                 f"(assumed); at most {load.disk_per_node_gb:g} GB of data per node")
        if load.replicas > 1:
            out.roles.append(Role("zookeeper", ZOOKEEPER_NODES, ZOOKEEPER_NODES, ZOOKEEPER_NODES * ZOOKEEPER_MEMORY_MB,
                                  ZOOKEEPER_NODES * 10.0, "ReplicatedMergeTree's coordination (3 for a quorum)"))

    query = max(load.query_processes, 2 if load.replicas > 1 else 1)
    out.roles.append(Role("query", query, query, query * QUERY_MEMORY_MB, 0.0,
                          "UI and query APIs; one core serves --query.max-concurrent heavy requests"))
    if load.agent:
        agent_cores = n * AGENT_US_PER_SPAN / 1e6 / u
        out.roles.append(Role("agent (total over hosts)", max(1, math.ceil(agent_cores)), agent_cores, 100.0, 0.0,
                              f"{AGENT_US_PER_SPAN:g} µs/span (measured 9-22)"))
    return out


def format_plan(p: Plan) -> str:
    lines = [f"{'role':<26} {'processes':>9} {'cores':>7} {'memory GB':>10} {'disk GB':>10}  notes"]
    for r in [*p.roles, p.totals]:
        lines.append(f"{r.name:<26} {r.processes:>9} {r.cores:>7.1f} {r.memory_mb / 1024:>10.1f} {r.disk_gb:>10,.0f}  {r.why}")
    lines.append("")
    lines.append("assumptions:")
    lines.extend(f"  - {x}" for x in p.assumptions)
    lines.extend(f"warning: {w}" for w in p.warnings)
    return "\n".join(lines)


def parse_retention(text: str) -> float:
    """``7d``, ``36h``, ``2w`` or any Go duration, in seconds."""
    t = text.strip().lower()
    units = {"d": 86400, "w": 7 * 86400}
    if t[:-1].replace(".", "", 1).isdigit() and t[-1] in units:
        return float(t[:-1]) * units[t[-1]]
    from spyglass.gocompat.godur import parse_duration

    try:
        return parse_duration(t) / 1e9
    except ValueError:
        raise ValueError(f"not a retention such as 7d, 2w or 72h: {text!r}") from None
