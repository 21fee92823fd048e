"""Zipkin's v2 span shape <-> ``spyglass.model``: the rules every Zipkin format shares.

Zipkin v2 JSON, Zipkin proto3 and (after conversion, see ``zipkin_v1``) Zipkin v1 JSON and
Thrift all carry the same span. This module maps that shape onto the canonical model the
way Jaeger v2 does it: through the OpenTelemetry collector's ``zipkinreceiver``
(``pkg/translator/zipkin/zipkinv2``), whose OTLP output Jaeger shows. Where that receiver
loses information, a lossless choice is documented below.

==========================================  =============================================
Zipkin v2                                   model
==========================================  =============================================
``traceId`` (64 or 128 bit)                 ``Span.trace_id`` (0 is refused)
``id``                                      ``Span.span_id`` (0 is refused)
``parentId``                                ``Span.parent_span_id`` (dropped when = id)
``name``                                    ``Span.name`` (missing -> ``""``)
``kind`` CLIENT/SERVER/PRODUCER/CONSUMER    ``Span.kind``; no kind + tag ``span.kind``
                                            -> that kind (tag removed), else UNSPECIFIED
``timestamp`` / ``duration`` (µs)           ``start_time_ns`` / ``duration_ns`` (x 1000;
                                            missing -> 0)
``localEndpoint.serviceName``               ``Resource.service_name``; missing -> tag
                                            ``service.name``, else
                                            ``OTLPResourceNoServiceName`` (Jaeger v2's)
``localEndpoint.ipv4`` / ``.ipv6``          resource attribute ``net.host.ip`` (str; both
                                            present -> two entries, IPv4 first)
``localEndpoint.port``                      resource attribute ``net.host.port`` (int)
tags named by OTel resource conventions     resource attributes (``telemetry.sdk.*``,
(``service.*``, ``telemetry.*``,            ``host.name``, ...), as the OTel receiver
``host.*``, ``process.*``, ``k8s.*``...)    does: OTel exporters copy them into tags
``remoteEndpoint.serviceName``              span attribute ``peer.service``
``remoteEndpoint.ipv4`` / ``.ipv6``         span attribute ``net.peer.ip`` (str)
``remoteEndpoint.port``                     span attribute ``net.peer.port`` (int)
tag ``error``                               ``Status(ERROR)``; its value is the message
                                            unless ``"true"``/``""`` (tag removed).
                                            ``"false"`` stays a plain attribute.
tags ``otel.status_code`` (+ ``_desc..``)   ``Span.status`` (tags removed)
tag ``w3c.tracestate``                      ``Span.trace_state`` (tag removed)
tags ``otel.scope.*`` / ``otel.library.*``  ``Span.scope`` name and version (removed)
tags ``otlp.link.N``                        ``Span.links`` (OTel's
                                            ``trace|span|state|{attrs}|dropped`` text)
other tags                                  string attributes, in payload order (v1 typed
                                            binary annotations keep their type)
annotation ``{timestamp, value}``           ``Event(time, name=value)``; OTel's
                                            ``name|{json attrs}|dropped`` form is parsed
``debug``                                   ``Span.flags`` = 3 (debug|sampled); otherwise
                                            1 (sampled: a reported span was sampled)
``shared``                                  span attribute ``zipkin.shared`` = True
==========================================  =============================================

The way back (``from_model``) inverts every row: ``error`` is written as the status message
(or ``"true"``), OK as ``otel.status_code=OK``; INTERNAL as tag ``span.kind=internal``
(Zipkin has no such kind); resource attributes other than the endpoint ones become tags;
array and map attributes become JSON text; events with attributes use OTel's
``name|{json}|dropped`` text; links use ``otlp.link.N``; ``flags & 2`` is ``debug``.
Times are rounded to the nearest microsecond. A span decoded from Zipkin and encoded again
gives the same Zipkin span (up to tag order, IP text normalisation and a bare ``error`` tag
becoming ``"true"``).

IP addresses are normalised (``ipaddress``): an IPv4-mapped IPv6 address is IPv4, an
address is filed under the family it really has, and text that is not an address is
dropped, as Zipkin's own ``Endpoint`` builder does.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, NamedTuple

from spyglass.model import (
    EMPTY_SCOPE,
    AttrValue,
    Event,
    KeyValue,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    Status,
    StatusCode,
    attr_as_string,
)
from spyglass.model.attributes import _jsonable

__all__ = [
    "Annotation",
    "Endpoint",
    "ModelBuilder",
    "NO_SERVICE_NAME",
    "ZipkinSpan",
    "from_model",
    "ip_bytes",
    "ip_text",
    "normalize_ip",
    "tag_text",
    "to_model",
]

NO_SERVICE_NAME = "OTLPResourceNoServiceName"
"""Service of a span without a local service name (what Jaeger v2 shows for it)."""

SHARED_KEY = "zipkin.shared"
HOST_IP_KEY = "net.host.ip"
HOST_PORT_KEY = "net.host.port"
PEER_SERVICE_KEY = "peer.service"
PEER_IP_KEY = "net.peer.ip"
PEER_PORT_KEY = "net.peer.port"
LINK_PREFIX = "otlp.link."

KINDS = ("CLIENT", "SERVER", "PRODUCER", "CONSUMER")
_KIND_OF = {
    "CLIENT": SpanKind.CLIENT,
    "SERVER": SpanKind.SERVER,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}
_ZIPKIN_KIND = {v: k for k, v in _KIND_OF.items()}
_KIND_OF.update({k.lower(): v for k, v in _KIND_OF.items()})  # some clients send lower case

# Resource attribute names of the OTel semantic conventions that exporters copy into
# Zipkin tags and the OTel receiver moves back into the resource.
_RESOURCE_KEYS = frozenset(
    """
    service.namespace service.instance.id service.version
    telemetry.sdk.name telemetry.sdk.language telemetry.sdk.version telemetry.auto.version
    telemetry.distro.name telemetry.distro.version
    host.name host.id host.type host.arch host.image.name host.image.id host.image.version
    host.ip host.mac os.type os.description os.name os.version os.build_id
    process.pid process.parent_pid process.executable.name process.executable.path
    process.command process.command_line process.command_args process.owner
    process.runtime.name process.runtime.version process.runtime.description
    container.name container.id container.image.name container.image.tag container.runtime
    k8s.cluster.name k8s.node.name k8s.node.uid k8s.namespace.name k8s.pod.name k8s.pod.uid
    k8s.container.name k8s.replicaset.name k8s.deployment.name k8s.statefulset.name
    k8s.daemonset.name k8s.job.name k8s.cronjob.name
    cloud.provider cloud.account.id cloud.region cloud.availability_zone cloud.platform
    cloud.resource_id deployment.environment deployment.environment.name
    faas.name faas.version faas.instance faas.max_memory
    device.id device.model.identifier device.model.name device.manufacturer
    """.split()
)

# Tags that are not plain attributes: each maps to what it becomes.
_SERVICE_NAME, _ERROR, _STATUS_CODE, _STATUS_DESC, _SPAN_KIND, _TRACE_STATE = range(6)
_SCOPE_NAME, _SCOPE_VERSION, _LIB_NAME, _LIB_VERSION, _RESOURCE = range(6, 11)
_SPECIAL: dict[str, int] = {
    "service.name": _SERVICE_NAME,
    "error": _ERROR,
    "otel.status_code": _STATUS_CODE,
    "otel.status_description": _STATUS_DESC,
    "span.kind": _SPAN_KIND,
    "w3c.tracestate": _TRACE_STATE,
    "otel.scope.name": _SCOPE_NAME,
    "otel.scope.version": _SCOPE_VERSION,
    "otel.library.name": _LIB_NAME,
    "otel.library.version": _LIB_VERSION,
    **{k: _RESOURCE for k in _RESOURCE_KEYS},
}

# Any of these keys in a span's tags means the slow, key-by-key path.
_NOT_PLAIN = frozenset({*_SPECIAL, LINK_PREFIX + "0"})

_new_tuple = tuple.__new__  # NamedTuple construction without its __new__ frame; hot path
_kv = partial(_new_tuple, KeyValue)
_UNSET_STATUS = Status()
_NO_ATTRS: list[KeyValue] = []
_U64 = (1 << 64) - 1


class Endpoint(NamedTuple):
    """A Zipkin endpoint with normalised IP text; ``""`` / 0 mean absent."""

    service_name: str = ""
    ipv4: str = ""
    ipv6: str = ""
    port: int = 0


class Annotation(NamedTuple):
    """A Zipkin annotation: microseconds since the epoch and a value."""

    timestamp: int
    value: str


@dataclass(slots=True)
class ZipkinSpan:
    """One Zipkin v2 span. Times in microseconds, 0 when absent; ``kind`` is one of
    ``KINDS`` or ``""``; tag values are strings except when they come from typed v1
    binary annotations (and on the way out to v1, where types are kept)."""

    trace_id: int
    id: int
    parent_id: int = 0
    kind: str = ""
    name: str = ""
    timestamp: int = 0
    duration: int = 0
    local_endpoint: Endpoint | None = None
    remote_endpoint: Endpoint | None = None
    annotations: list[Annotation] = field(default_factory=list)
    tags: dict[str, AttrValue] = field(default_factory=dict)
    debug: bool = False
    shared: bool = False


# -- IP addresses -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def normalize_ip(text: str) -> tuple[int, str]:
    """``(family, canonical text)`` of an IP address, family 4 or 6; ``(0, "")`` when the
    text is not an address. IPv4-mapped IPv6 addresses are IPv4 (as in Zipkin)."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return 0, ""
    if addr.version == 6:
        mapped = addr.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return 4, str(mapped)
        return 6, str(addr)
    return 4, str(addr)


@lru_cache(maxsize=4096)
def ip_text(packed: bytes) -> tuple[int, str]:
    """``(family, text)`` of a packed 4- or 16-byte address; ``(0, "")`` otherwise."""
    n = len(packed)
    if n == 4:
        return 4, str(ipaddress.IPv4Address(packed))
    if n == 16:
        return normalize_ip(str(ipaddress.IPv6Address(packed)))
    return 0, ""


@lru_cache(maxsize=4096)
def ip_bytes(text: str) -> bytes:
    """The packed form of normalised IP text (``b""`` when it is not an address)."""
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return b""


def make_endpoint(service_name: str | None, ips: Iterable[str | None], port: int | None) -> Endpoint | None:
    """An ``Endpoint`` from raw fields: each IP text is normalised and filed under its real
    family (invalid text is dropped); ``None`` when nothing is left."""
    ipv4 = ipv6 = ""
    for raw in ips:
        if raw:
            family, text = normalize_ip(raw)
            if family == 4:
                ipv4 = ipv4 or text
            elif family == 6:
                ipv6 = ipv6 or text
    port = port or 0
    if port < 0:
        port &= 0xFFFF  # Thrift's i16 carries ports above 32767 as negative numbers
    service_name = service_name or ""
    if not (service_name or ipv4 or ipv6 or port):
        return None
    return _new_tuple(Endpoint, (service_name, ipv4, ipv6, port))


# -- Zipkin -> model --------------------------------------------------------------------


class ModelBuilder:
    """Builds model spans from Zipkin span fields. One builder per request: it shares one
    ``Resource`` (and ``Scope``) object among the spans of the same local endpoint."""

    __slots__ = ("_resources", "_scopes")

    def __init__(self) -> None:
        self._resources: dict[tuple[Any, ...], Resource] = {}
        self._scopes: dict[tuple[str, str], Scope] = {}

    def span(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int,
        kind: str,
        name: str,
        timestamp: int,
        duration: int,
        local: Endpoint | None,
        remote: Endpoint | None,
        annotations: Iterable[Any],
        tags: Mapping[str, AttrValue] | None,
        debug: bool,
        shared: bool,
    ) -> Span:
        """One model span. ``annotations`` are objects with ``timestamp`` and ``value``."""
        special: dict[int, AttrValue] | None = None
        rtags: list[KeyValue] | None = None
        has_links = False
        if not tags:
            attrs: list[KeyValue] = []
        elif _NOT_PLAIN.isdisjoint(tags):  # the common case: plain tags only
            attrs = list(map(_kv, tags.items()))
        else:
            attrs = []
            has_links = LINK_PREFIX + "0" in tags
            append = attrs.append
            for key, value in tags.items():
                what = _SPECIAL.get(key)
                if what is None:
                    if has_links and key.startswith(LINK_PREFIX):
                        continue
                    append(_new_tuple(KeyValue, (key, value)))
                elif what == _RESOURCE:
                    if rtags is None:
                        rtags = []
                    rtags.append(_new_tuple(KeyValue, (key, value)))
                else:
                    if special is None:
                        special = {}
                    special[what] = value

        # Positional: a third faster than keywords on this hot path (field order of Span).
        span = Span(
            trace_id,
            span_id,
            name,
            timestamp * 1000,
            duration * 1000,
            _NO_RESOURCE,
            parent_id if parent_id != span_id else 0,
            _KIND_OF.get(kind, SpanKind.UNSPECIFIED),
            _UNSET_STATUS,
            attrs,
            [_event(a.timestamp, a.value) for a in annotations] if annotations else [],
            [],
            3 if debug else 1,
        )
        service = local.service_name if local is not None else ""
        if special is not None:
            service = self._apply_special(span, special, service, attrs)
        if has_links:
            _apply_links(span, tags, attrs)  # type: ignore[arg-type]
        if remote is not None:
            if remote.service_name:
                attrs.append(_new_tuple(KeyValue, (PEER_SERVICE_KEY, remote.service_name)))
            if remote.ipv4:
                attrs.append(_new_tuple(KeyValue, (PEER_IP_KEY, remote.ipv4)))
            if remote.ipv6:
                attrs.append(_new_tuple(KeyValue, (PEER_IP_KEY, remote.ipv6)))
            if remote.port:
                attrs.append(_new_tuple(KeyValue, (PEER_PORT_KEY, remote.port)))
        if shared:
            attrs.append(_new_tuple(KeyValue, (SHARED_KEY, True)))
        span.resource = self._resource(service or NO_SERVICE_NAME, local, rtags)
        return span

    def _resource(self, service: str, local: Endpoint | None, rtags: list[KeyValue] | None) -> Resource:
        key = (service, local, tuple(rtags) if rtags else None)
        resource = self._resources.get(key)
        if resource is None:
            attrs: list[KeyValue] = []
            if local is not None:
                if local.ipv4:
                    attrs.append(KeyValue(HOST_IP_KEY, local.ipv4))
                if local.ipv6:
                    attrs.append(KeyValue(HOST_IP_KEY, local.ipv6))
                if local.port:
                    attrs.append(KeyValue(HOST_PORT_KEY, local.port))
            if rtags:
                attrs.extend(rtags)
            resource = self._resources[key] = Resource(service, attrs)
        return resource

    def _apply_special(self, span: Span, special: dict[int, AttrValue], service: str, attrs: list[KeyValue]) -> str:
        """Kind, status, trace state and scope from their tags; returns the service name."""
        if _SERVICE_NAME in special:
            tag_service = special[_SERVICE_NAME]
            if not service and isinstance(tag_service, str):
                service = tag_service
            elif tag_service != service:
                attrs.append(KeyValue("service.name", tag_service))
        if _SPAN_KIND in special:
            value = special[_SPAN_KIND]
            kind = SpanKind.from_jaeger_name(value) if isinstance(value, str) else SpanKind.UNSPECIFIED
            if span.kind is SpanKind.UNSPECIFIED and kind is not SpanKind.UNSPECIFIED:
                span.kind = kind
            else:
                attrs.append(KeyValue("span.kind", value))
        code = StatusCode.UNSET
        message = ""
        if _STATUS_CODE in special:
            text = attr_as_string(special[_STATUS_CODE]).upper().removeprefix("STATUS_CODE_")
            code = StatusCode.ERROR if text == "ERROR" else StatusCode.OK if text == "OK" else StatusCode.UNSET
            message = attr_as_string(special.get(_STATUS_DESC, ""))
        elif _STATUS_DESC in special:
            attrs.append(KeyValue("otel.status_description", special[_STATUS_DESC]))
        if _ERROR in special:
            value = special[_ERROR]
            if value is False or value == "false":
                attrs.append(KeyValue("error", value))
            else:
                code = StatusCode.ERROR
                if not message and value is not True and value != "true":
                    message = attr_as_string(value)
        if code is not StatusCode.UNSET or message:
            span.status = Status(code, message)
        if _TRACE_STATE in special:
            span.trace_state = attr_as_string(special[_TRACE_STATE])
        scope_name = special.get(_SCOPE_NAME, special.get(_LIB_NAME))
        scope_version = special.get(_SCOPE_VERSION, special.get(_LIB_VERSION))
        if scope_name is not None or scope_version is not None:
            key = (attr_as_string(scope_name), attr_as_string(scope_version))
            scope = self._scopes.get(key)
            if scope is None:
                scope = self._scopes[key] = Scope(name=key[0], version=key[1])
            span.scope = scope
        return service


_NO_RESOURCE = Resource(NO_SERVICE_NAME)


def _event(timestamp: int, value: str) -> Event:
    if "|" in value:
        event = _otel_event(timestamp, value)
        if event is not None:
            return event
    return Event(timestamp * 1000, value)


def _otel_event(timestamp: int, value: str) -> Event | None:
    """OTel's ``name|{json attributes}|dropped count`` annotation text, or None."""
    parts = value.split("|")
    if len(parts) < 3 or not _is_count(parts[-1]):
        return None
    try:
        raw = json.loads("|".join(parts[1:-1]))
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    return Event(timestamp * 1000, parts[0], _json_attrs(raw), int(parts[-1]))


def _is_count(text: str) -> bool:
    """A dropped count as OTel writes it: ASCII digits of a uint32 (``str.isdigit`` alone
    takes "²", which ``int`` refuses, and a count past 64 bits could not be stored)."""
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= 0xFFFF_FFFF


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_text(text: str) -> str:
    """A lone ``\\ud800`` escape decodes to a surrogate no UTF-8 encoder takes: U+FFFD, as Go."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def _json_attrs(raw: dict[str, Any]) -> list[KeyValue]:
    """The scalar attributes of an OTel annotation's or link's JSON (int64 ints only)."""
    out = []
    for k, v in raw.items():
        if isinstance(v, str):
            v = _json_text(v)
        elif isinstance(v, int) and not isinstance(v, bool) and not _INT64_MIN <= v <= _INT64_MAX:
            continue
        elif not isinstance(v, (bool, int, float)):
            continue
        out.append(KeyValue(_json_text(str(k)), v))
    return out


def _apply_links(span: Span, tags: Mapping[str, AttrValue], attrs: list[KeyValue]) -> None:
    """``otlp.link.0``, ``.1``, ... (in order, up to the first gap) become links; text that
    does not parse stays a plain attribute rather than failing the request."""
    links: list[Link] = []
    i = 0
    while True:
        key = f"{LINK_PREFIX}{i}"
        value = tags.get(key)
        if value is None:
            break
        link = _parse_link(value) if isinstance(value, str) else None
        if link is None:
            attrs.append(KeyValue(key, value))
        else:
            links.append(link)
        i += 1
    for key, value in tags.items():  # keys after a gap are kept as they are
        if key.startswith(LINK_PREFIX) and not (key[len(LINK_PREFIX) :].isdigit() and int(key[len(LINK_PREFIX) :]) < i):
            attrs.append(KeyValue(key, value))
    span.links = links


def _parse_link(text: str) -> Link | None:
    parts = text.split("|")
    if len(parts) < 5 or not _is_count(parts[-1]):
        return None
    trace_hex, span_hex, state = parts[0], parts[1], parts[2]
    if len(trace_hex) != 32 or len(span_hex) != 16:
        return None
    try:
        trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
        raw = json.loads("|".join(parts[3:-1]))
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    return Link(trace_id, span_id, RefType.FOLLOWS_FROM, state, _json_attrs(raw), 0, int(parts[-1]))


def to_model(spans: Iterable[ZipkinSpan]) -> list[Span]:
    """Zipkin spans as model spans (one ``ModelBuilder`` for all of them)."""
    build = ModelBuilder().span
    return [
        build(
            z.trace_id,
            z.id,
            z.parent_id,
            z.kind,
            z.name,
            z.timestamp,
            z.duration,
            z.local_endpoint,
            z.remote_endpoint,
            z.annotations,
            z.tags,
            z.debug,
            z.shared,
        )
        for z in spans
    ]


# -- model -> Zipkin --------------------------------------------------------------------


def tag_text(value: AttrValue) -> str:
    """A tag value as Zipkin's string form (``attr_as_string``; arrays/maps as JSON)."""
    return value if type(value) is str else attr_as_string(value)  # type: ignore[return-value]


def _typed(value: AttrValue) -> AttrValue:
    """A value a typed v1 binary annotation can carry: arrays and maps become JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(_jsonable(value), separators=(",", ":"))
    if value is None:
        return ""
    return value


def _us(ns: int) -> int:
    return (ns + 500) // 1000


def _endpoint_from(service: str, ips: list[AttrValue], port: AttrValue) -> Endpoint | None:
    p = 0
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port <= 0xFFFF:
        p = port
    elif isinstance(port, str) and port.isdigit() and 0 < int(port) <= 0xFFFF:
        p = int(port)
    return make_endpoint(service, [ip for ip in ips if isinstance(ip, str)], p)


_LOCAL_CACHE_LIMIT = 256


def from_model(spans: Iterable[Span]) -> list[ZipkinSpan]:
    """Model spans as Zipkin spans (tag values keep their type; v2 encoders stringify)."""
    locals_: dict[int, tuple[Resource, Endpoint | None, dict[str, AttrValue]]] = {}
    out: list[ZipkinSpan] = []
    for span in spans:
        res = span.resource
        cached = locals_.get(id(res))
        if cached is None or cached[0] is not res:
            cached = (res, *_local_endpoint(res))
            if len(locals_) > _LOCAL_CACHE_LIMIT:
                locals_.clear()
            locals_[id(res)] = cached
        out.append(_zipkin_span(span, cached[1], cached[2]))
    return out


def _local_endpoint(resource: Resource) -> tuple[Endpoint | None, dict[str, AttrValue]]:
    ips: list[AttrValue] = []
    port: AttrValue = None
    tags: dict[str, AttrValue] = {}
    for key, value in resource.attributes:
        if key == HOST_IP_KEY and isinstance(value, str) and normalize_ip(value)[0]:
            ips.append(value)
        elif key == HOST_PORT_KEY and port is None and _endpoint_from("", [], value) is not None:
            port = value
        else:
            tags[key] = _typed(value)
    service = resource.service_name if resource.service_name != NO_SERVICE_NAME else ""
    return _endpoint_from(service, ips, port), tags


def _zipkin_span(span: Span, local: Endpoint | None, resource_tags: dict[str, AttrValue]) -> ZipkinSpan:
    tags: dict[str, AttrValue] = {}
    peer_service: AttrValue = None
    peer_ips: list[AttrValue] = []
    peer_port: AttrValue = None
    shared = False
    for key, value in span.attributes:
        if key == PEER_SERVICE_KEY and peer_service is None and isinstance(value, str):
            peer_service = value
        elif key == PEER_IP_KEY and isinstance(value, str) and normalize_ip(value)[0]:
            peer_ips.append(value)
        elif key == PEER_PORT_KEY and peer_port is None and _endpoint_from("", [], value) is not None:
            peer_port = value
        elif key == SHARED_KEY and isinstance(value, bool):
            shared = value
        else:
            tags[key] = _typed(value)
    remote = None
    if peer_service is not None or peer_ips or peer_port is not None:
        remote = _endpoint_from(peer_service or "", peer_ips, peer_port)  # type: ignore[arg-type]
    if resource_tags:
        for key, value in resource_tags.items():
            tags.setdefault(key, value)
    kind = _ZIPKIN_KIND.get(span.kind, "")
    if span.kind is SpanKind.INTERNAL:
        tags["span.kind"] = "internal"
    status = span.status
    if status.code is StatusCode.ERROR:
        tags["error"] = status.message or "true"
    elif status.code is StatusCode.OK:
        tags["otel.status_code"] = "OK"
        if status.message:
            tags["otel.status_description"] = status.message
    elif status.message:
        tags["otel.status_description"] = status.message
    if span.trace_state:
        tags["w3c.tracestate"] = span.trace_state
    scope = span.scope
    if scope is not EMPTY_SCOPE:
        if scope.name:
            tags["otel.scope.name"] = scope.name
        if scope.version:
            tags["otel.scope.version"] = scope.version
    for i, link in enumerate(span.links):
        tags[f"{LINK_PREFIX}{i}"] = _link_text(link)
    return ZipkinSpan(
        trace_id=span.trace_id,
        id=span.span_id,
        parent_id=span.parent_span_id,
        kind=kind,
        name=span.name,
        timestamp=_us(span.start_time_ns),
        duration=_us(span.duration_ns),
        local_endpoint=local,
        remote_endpoint=remote,
        annotations=[Annotation(_us(e.time_ns), _annotation_text(e)) for e in span.events],
        tags=tags,
        debug=bool(span.flags & 2),
        shared=shared,
    )


def _attrs_json(attributes: Sequence[KeyValue]) -> str:
    return json.dumps({k: _jsonable(v) for k, v in attributes}, separators=(",", ":"))


def _annotation_text(event: Event) -> str:
    if not event.attributes and not event.dropped_attributes_count:
        return event.name
    return f"{event.name}|{_attrs_json(event.attributes)}|{event.dropped_attributes_count}"


def _link_text(link: Link) -> str:
    return (
        f"{link.trace_id:032x}|{link.span_id:016x}|{link.trace_state}|"
        f"{_attrs_json(link.attributes)}|{link.dropped_attributes_count}"
    )
