"""Real ClickHouse (Debian's 18.16) and ZooKeeper servers for the tests, on free ports in temp dirs.

Each server is a child process with a minimal config written here; nothing outside its
temporary directory is touched. Servers are started lazily, once per test session
(``single_node()``, ``cluster()``), and ``stop_all()`` (called at session end by the
``clickhouse_cleanup`` fixture in ``tests/conftest.py`` and by ``atexit``) kills every
process started here, even when tests failed.

Cluster layout (two servers, one ZooKeeper): ``two_shards`` has each server as a shard of its
own; ``two_replicas`` has one shard with both servers as replicas (macros ``shard=01``,
``replica=a``/``b``). Tests use separate databases, so both clusters share the servers.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLICKHOUSE = "/usr/sbin/clickhouse-server"
ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"

_lock = threading.Lock()
_started: list["Process"] = []
_single: "ClickHouse | None" = None
_cluster: "Cluster | None" = None


def _free_port() -> int:
    from support import free_port  # below the ephemeral range (see there)

    return free_port()


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s: {_tail(log)}")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """A child server: how to start it again (after ``stop``) and how to kill it."""

    argv: list[str]
    cwd: Path
    port: int
    what: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, self.proc, self.what, self.log)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class ClickHouse:
    """One clickhouse-server: ``address`` is ``127.0.0.1:<native port>``."""

    root: Path
    tcp_port: int
    process: Process

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()


@dataclass
class Cluster:
    nodes: list[ClickHouse]
    zookeeper: Process
    clusters: tuple[str, ...] = ("two_shards", "two_replicas")
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def addresses(self) -> str:
        return ",".join(n.address for n in self.nodes)


_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <spy><password>secret</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></spy>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


def _config(root: Path, tcp: int, http: int, interserver: int, extra: str) -> str:
    return f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{root}/server.log</log><errorlog>{root}/error.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>104857600</mark_cache_size>
  <uncompressed_cache_size>104857600</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <builtin_dictionaries_reload_interval>0</builtin_dictionaries_reload_interval>
  {extra}
</yandex>
"""


def _start_clickhouse(root: Path, extra: str = "") -> ClickHouse:
    return _start_with_port(root, _free_port(), extra)


def _start_zookeeper(root: Path) -> Process:
    if not os.path.exists(ZOOKEEPER_JAR) or shutil.which("java") is None:
        pytest.skip("Debian's zookeeper (and java) is not installed (make test installs it)")
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (root / "data").mkdir(exist_ok=True)
    (root / "zoo.cfg").write_text(
        f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={root}/data\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=100\n"
        "4lw.commands.whitelist=srvr\n")
    (root / "log4j.properties").write_text(
        "log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
        f"log4j.appender.F.File={root}/zookeeper.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n")
    argv = ["java", "-Xmx256m", f"-Dlog4j.configuration=file:{root}/log4j.properties",
            "-Dzookeeper.admin.enableServer=false",
            "-cp", f"{root}:/etc/zookeeper/conf:{ZOOKEEPER_JAR}:/usr/share/java/slf4j-simple.jar",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(root / "zoo.cfg")]
    process = Process(argv, root, port, "zookeeper", root / "stdout.log")
    _started.append(process)
    process.start()
    _wait_zookeeper_serving(port)
    return process


def _wait_zookeeper_serving(port: int, timeout: float = 60) -> None:
    """ZooKeeper accepts connections before it serves them; a ClickHouse that connects too
    early fails its handshake (18.16 then crashes on its first DDL). ``srvr`` tells when it
    serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"srvr")
                if b"Mode:" in s.recv(1000):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"zookeeper on {port} did not serve within {timeout}s")


def _base_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="spyglass-clickhouse-"))


_roots: list[Path] = []


def single_node() -> ClickHouse:
    """The session's single 18.16 server (started on first use)."""
    global _single
    with _lock:
        if _single is None or not _single.process.running:
            root = _base_dir()
            _roots.append(root)
            _single = _start_clickhouse(root / "single")
        return _single


def private_node(root: Path) -> ClickHouse:
    """A server of the calling test's own (which may stop and start it); killed at session end."""
    return _start_clickhouse(root)


def cluster() -> Cluster:
    """The session's two servers with ZooKeeper, in clusters ``two_shards`` and ``two_replicas``."""
    global _cluster
    with _lock:
        if _cluster is None:
            root = _base_dir()
            _roots.append(root)
            zk = _start_zookeeper(root / "zookeeper")
            ports = [_free_port(), _free_port()]

            def replica(port: int) -> str:
                return (f"<replica><host>127.0.0.1</host><port>{port}</port>"
                        "<user>default</user></replica>")

            remote = (
                "<remote_servers>"
                f"<two_shards><shard>{replica(ports[0])}</shard><shard>{replica(ports[1])}</shard></two_shards>"
                "<two_replicas><shard><internal_replication>true</internal_replication>"
                f"{replica(ports[0])}{replica(ports[1])}</shard></two_replicas>"
                "</remote_servers>"
            )
            nodes = []
            for i, name in enumerate("ab"):
                extra = (remote
                         + f"<zookeeper><node><host>127.0.0.1</host><port>{zk.port}</port></node>"
                         "<session_timeout_ms>6000</session_timeout_ms></zookeeper>"
                         f"<macros><shard>01</shard><replica>{name}</replica></macros>"
                         "<distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>")
                nodes.append(_start_with_port(root / f"node-{name}", ports[i], extra))
            _cluster = Cluster(nodes, zk)
        return _cluster


def _start_with_port(root: Path, tcp: int, extra: str) -> ClickHouse:
    """Like ``_start_clickhouse`` but on a TCP port chosen beforehand (the cluster config
    names every node's port)."""
    if not os.access(CLICKHOUSE, os.X_OK):
        pytest.skip(f"{CLICKHOUSE} is not installed (make test installs it)")
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "tmp", "format_schemas"):
        (root / sub).mkdir(exist_ok=True)
    (root / "users.xml").write_text(_USERS)
    (root / "config.xml").write_text(_config(root, tcp, _free_port(), _free_port(), extra))
    process = Process([CLICKHOUSE, f"--config-file={root}/config.xml"], root, tcp, "clickhouse-server",
                      root / "stdout.log")
    _started.append(process)
    process.start()
    return ClickHouse(root, tcp, process)


_databases = iter(range(1, 1 << 30))


def fresh_database() -> str:
    """A database name no test of this session used yet."""
    with _lock:
        return f"t{os.getpid()}_{next(_databases)}"


def stop_all() -> None:
    """Kill every server started here and remove their directories."""
    global _single, _cluster
    with _lock:
        for process in reversed(_started):
            try:
                process.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        _started.clear()
        for root in _roots:
            shutil.rmtree(root, ignore_errors=True)
        _roots.clear()
        _single = _cluster = None


atexit.register(stop_all)
