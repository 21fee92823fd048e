"""TLS settings from certificate files, for listeners and for the connections Spyglass opens.

Why one module: every listener (aiohttp or gRPC) and every client (gRPC, NATS, ClickHouse,
HTTP senders) reads the same kind of ``--<name>.tls.*`` flags, and should refuse the same
mistakes (a key without a certificate, an unreadable file, TLS 1.1) with the same one-line
error naming the flag.

Certificates are reloaded without a restart: each listener checks its files (modification
time, size, inode) at most once a second when a connection's handshake starts, and when they
changed builds a whole new ``SSLContext`` (certificate, key *and* client CA, so a removed CA
stops being trusted). A half-replaced pair (new certificate, old key) fails to load: the
previous context keeps serving and the files are tried again at the next check. aiohttp
listeners switch contexts in the handshake's SNI callback (called for every ClientHello,
with or without SNI); gRPC listeners get the same files through
``grpc.dynamic_ssl_server_credentials``, whose fetcher gRPC calls at each handshake.
"""

from __future__ import annotations


import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

log = logging.getLogger(__name__)

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
RECHECK_SECONDS = 1.0  # files are looked at no more often than this


class TlsError(ValueError):
    """A TLS setting that cannot be used; ``str()`` is one line naming the flag."""


def _readable(flag: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TlsError(f"--{flag}: cannot read {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class ServerTlsConfig:
    """One listener's ``--<prefix>.tls.*`` flags."""

    prefix: str
    enabled: bool = False
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    min_version: str = "1.2"

    def validate(self) -> None:
        p = self.prefix
        if not self.enabled:
            if self.cert or self.key or self.client_ca:
                raise TlsError(f"--{p}.tls.cert/.key/.client-ca are set but --{p}.tls.enabled is not")
            return
        if not self.cert or not self.key:
            raise TlsError(f"--{p}.tls.enabled needs --{p}.tls.cert and --{p}.tls.key")
        if self.min_version not in VERSIONS:
            raise TlsError(f"--{p}.tls.min-version {self.min_version!r}: one of {', '.join(VERSIONS)}")
        for flag, path in ((f"{p}.tls.cert", self.cert), (f"{p}.tls.key", self.key), (f"{p}.tls.client-ca", self.client_ca)):
            if path:
                _readable(flag, path)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.cert, self.key, self.client_ca) if f)


def _stamp(paths: tuple[str, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class ServerTls:
    """The current TLS material of one listener, reloaded when its files change.

    ``context()`` is an ``SSLContext`` for aiohttp (its SNI callback swaps in the newest
    context); ``grpc_credentials()`` are gRPC server credentials reading the same files.
    Construction loads the files once and raises ``TlsError`` when they cannot be used."""

    def __init__(self, config: ServerTlsConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        config.validate()
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()  # gRPC calls the fetcher on its own threads
        self._checked = clock()
        self._stamp = _stamp(config.files)
        self.generation = 0  # bumped at each successful reload
        self.reloads = 0
        self.reload_failures = 0
        self._failed_stamp: tuple[Any, ...] | None = None
        try:
            self._current = self._build_context()
            self._pem = self._read_pem()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsError(f"--{config.prefix}.tls: cannot load {', '.join(config.files)}: {_reason(exc)}") from None
        self._outer: ssl.SSLContext | None = None

    # -- loading ------------------------------------------------------------------------
    def _build_context(self) -> ssl.SSLContext:
        c = self.config
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = VERSIONS[c.min_version]
        ctx.load_cert_chain(c.cert, c.key)
        if c.client_ca:
            ctx.load_verify_locations(cafile=c.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _read_pem(self) -> tuple[bytes, bytes, bytes | None]:
        c = self.config
        return _read(c.key), _read(c.cert), _read(c.client_ca) if c.client_ca else None

    def check(self, *, force: bool = False) -> bool:
        """Reload when the files changed since the last look (at most once a second unless
        ``force``); True when new material is in use."""
        now = self._clock()
        if not force and now - self._checked < RECHECK_SECONDS:
            return False
        with self._lock:
            self._checked = now
            stamp = _stamp(self.config.files)
            if stamp == self._stamp:
                return False
            try:
                ctx = self._build_context()
                pem = self._read_pem()
            except (OSError, ssl.SSLError, ValueError) as exc:
                if stamp != self._failed_stamp:  # one line per state of the files, not per handshake
                    self._failed_stamp = stamp
                    self.reload_failures += 1
                    log.warning("%s: cannot reload TLS files (%s); still serving the previous certificate",
                                self.config.prefix, _reason(exc))
                return False
            self._current, self._pem, self._stamp = ctx, pem, stamp
            self._failed_stamp = None
            self.generation += 1
            self.reloads += 1
        log.info("%s: TLS certificate reloaded from %s", self.config.prefix, self.config.cert)
        return True

    # -- aiohttp ------------------------------------------------------------------------
    def context(self) -> ssl.SSLContext:
        """The context to give the server: each handshake gets the newest material."""
        if self._outer is None:
            outer = self._build_context()

            def pick(sslobj: ssl.SSLObject, _server_name: str | None, _ctx: ssl.SSLContext) -> None:
                self.check()
                if sslobj.context is not self._current:
                    sslobj.context = self._current
                return None

            outer.sni_callback = pick
            self._outer = outer
        return self._outer

    # -- gRPC ---------------------------------------------------------------------------
    def grpc_credentials(self) -> Any:
        """Server credentials whose fetcher hands gRPC the new files after a change.

        grpcio has no minimum-version setting: its TLS stack accepts 1.2 and 1.3, so
        ``min-version 1.3`` is refused for gRPC listeners (see ``check_grpc``)."""
        import grpc

        key, cert, ca = self._pem
        seen = [self.generation]

        def fetch() -> Any:
            self.check()
            if self.generation == seen[0]:
                return None
            seen[0] = self.generation
            k, c, r = self._pem
            return grpc.ssl_server_certificate_configuration([(k, c)], root_certificates=r)

        initial = grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)
        return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=ca is not None)

    def check_grpc(self) -> None:
        if self.config.min_version != "1.2":
            raise TlsError(
                f"--{self.config.prefix}.tls.min-version {self.config.min_version}: gRPC listeners cannot "
                "enforce a minimum TLS version (grpcio has no such setting; they accept TLS 1.2 and 1.3)"
            )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


# -- clients --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientTlsConfig:
    """The ``--<prefix>.tls.*`` flags of a connection Spyglass opens (Jaeger's names):
    ``ca`` verifies the server (the system's CAs when empty), ``cert``/``key`` are the
    client certificate for mutual TLS, ``server_name`` overrides the name checked (and
    sent as SNI), ``skip_host_verify`` accepts any server certificate (tests only)."""

    prefix: str
    enabled: bool = False
    ca: str = ""
    cert: str = ""
    key: str = ""
    server_name: str = ""
    skip_host_verify: bool = False

    def validate(self) -> None:
        p = f"--{self.prefix}.tls" if self.prefix else "--tls"
        if not self.enabled:
            if self.ca or self.cert or self.key:
                raise TlsError(f"{p}.ca/.cert/.key are set but {p}.enabled is not")
            return
        if bool(self.cert) != bool(self.key):
            raise TlsError(f"{p}.cert and {p}.key go together (a client certificate and its key)")
        for name, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            if path:
                _readable(f"{p[2:]}.{name}", path)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context: TLS 1.2 or later, the server verified unless told otherwise."""
        self.validate()
        ctx = ssl.create_default_context(cafile=self.ca or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        if self.skip_host_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def grpc_credentials(self) -> Any:
        """gRPC channel credentials. ``skip_host_verify`` cannot turn verification off in
        grpcio; it is refused here rather than silently ignored."""
        import grpc

        self.validate()
        if self.skip_host_verify:
            raise TlsError(f"--{self.prefix}.tls.skip-host-verify: not available for gRPC connections "
                           f"(grpcio always verifies); give the server's CA with --{self.prefix}.tls.ca")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca) if self.ca else None,
            private_key=_read(self.key) if self.key else None,
            certificate_chain=_read(self.cert) if self.cert else None,
        )

    def grpc_options(self) -> list[tuple[str, str]]:
        """Channel arguments that make gRPC check (and send) ``server_name``."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def server_tls_from_settings(settings: Any, prefix: str) -> ServerTlsConfig:
    """The ``ServerTlsConfig`` of ``--<prefix>.tls.*`` in ``settings``."""
    return _from_settings(ServerTlsConfig, settings, prefix, prefix.replace(".", "_").replace("-", "_") + "_tls_")


def client_tls_from_settings(settings: Any, prefix: str) -> ClientTlsConfig:
    """The ``ClientTlsConfig`` of ``--<prefix>.tls.*`` (``--tls.*`` when ``prefix`` is empty)."""
    from spyglass.config import TLS_CLIENTS

    return _from_settings(ClientTlsConfig, settings, prefix, TLS_CLIENTS[prefix][0] + "_tls_")


def _from_settings(cls: Any, settings: Any, prefix: str, attr: str) -> Any:
    """``cls`` with each field read from the setting ``attr + field`` (config._with_tls made them)."""
    return cls(prefix=prefix, **{f.name: getattr(settings, attr + f.name) for f in fields(cls)
                                 if f.name != "prefix"})


def grpc_channel(target: str, tls: ClientTlsConfig | None, options: list[tuple[str, Any]] | None = None) -> Any:
    """A ``grpc.aio`` channel to ``target``: TLS when ``tls`` is enabled, plain otherwise."""
    import grpc

    options = list(options or [])
    if tls is None or not tls.enabled:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, tls.grpc_credentials(), options=options + tls.grpc_options())
