"""Zipkin's v1 span model and its conversion to and from the v2 shape.

v1 spans (v1 JSON, zipkincore Thrift) have no kind, no local endpoint and no
shared flag: those live in *annotations*. A v1 span is converted to one or more v2 spans
the way Zipkin's own ``V1SpanConverter`` does it, and only then mapped onto the model by
``zipkin_model``:

* **Core annotations** (``cs`` ``cr`` ``sr`` ``ss`` ``ms`` ``mr``; ``ws`` ``wr``) that
  carry an endpoint give the kind (``cs``/``cr`` CLIENT, ``sr``/``ss`` SERVER, ``ms``
  PRODUCER, ``mr`` CONSUMER) and are not kept as annotations; without an endpoint they are
  ordinary annotations.
* **Local endpoint**: each annotation and binary annotation belongs to the v2 span of its
  host's service; the first host seen becomes the first span's local endpoint. A v1 span
  that holds both sides of an RPC (``cs`` by one service, ``sr`` by another) becomes two v2
  spans with the same IDs: the client, and a **shared** server span timed by ``sr``/``ss``.
  A loopback (client and server of one service) still gives two spans.
* **Timestamp and duration**: the span's own when both are set; otherwise from the core
  annotations (``cs``..``cr``, ``sr``..``ss``, ``ms``..``ws``, ``wr``..``mr``). A
  server-only span without a span timestamp is **shared** (v1's convention: the client
  owns the timestamp). An incomplete RPC keeps its lone end annotation (``cr``, ``ss``).
* **Binary annotations**: ``ca``/``sa``/``ma`` address annotations (BOOL true with a host)
  become the remote endpoint of the server, client or messaging span (``sa`` alone marks
  a remote address without a kind; ``ca`` alone makes a SERVER span); the marker
  ``lc=""`` only names the local endpoint; every other one is a tag. Typed values keep
  their type in the model (BOOL -> bool, I16/I32/I64 -> int, DOUBLE -> float, BYTES ->
  bytes, STRING -> str), where Zipkin would turn them into strings.

The way back (``v2_to_v1``) writes the begin and end core annotations from kind, timestamp
and duration, the remote endpoint as ``ca``/``sa``/``ma``, tags as binary annotations on
the local endpoint, ``lc=""`` for a span that would otherwise lose its local endpoint, and
omits the span timestamp of a shared server span, so that ``v1_to_v2`` gives the same
v2 span back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from spyglass.codecs.zipkin_model import Annotation, Endpoint, ZipkinSpan, to_model
from spyglass.model import AttrValue, Span

__all__ = [
    "CORE_ANNOTATIONS",
    "V1Annotation",
    "V1BinaryAnnotation",
    "V1Span",
    "v1_spans_to_model",
    "v1_to_v2",
    "v2_to_v1",
]

CORE_ANNOTATIONS = frozenset({"cs", "cr", "sr", "ss", "ms", "mr", "ws", "wr"})
ADDRESS_KEYS = frozenset({"ca", "sa", "ma"})
_KIND_OF_CORE = {"cs": "CLIENT", "cr": "CLIENT", "sr": "SERVER", "ss": "SERVER", "ms": "PRODUCER", "mr": "CONSUMER"}


class V1Annotation(NamedTuple):
    timestamp: int
    value: str
    endpoint: Endpoint | None = None


class V1BinaryAnnotation(NamedTuple):
    """A tag, or (``value`` None) a ``ca``/``sa``/``ma`` address annotation."""

    key: str
    value: AttrValue
    endpoint: Endpoint | None = None


@dataclass(slots=True)
class V1Span:
    """One v1 span. ``trace_id`` is the full 128-bit ID; times in µs, 0 when absent."""

    trace_id: int
    id: int
    name: str = ""
    parent_id: int = 0
    timestamp: int = 0
    duration: int = 0
    debug: bool = False
    annotations: list[V1Annotation] = field(default_factory=list)
    binary_annotations: list[V1BinaryAnnotation] = field(default_factory=list)


def _same_service(a: Endpoint, b: Endpoint | None) -> bool:
    return b is not None and a.service_name == b.service_name


class _Converter:
    """One v1 span's conversion: the v2 spans so far, one per local service."""

    __slots__ = ("src", "spans", "cs", "sr", "ss", "cr", "ms", "mr", "ws", "wr")

    def __init__(self, src: V1Span) -> None:
        self.src = src
        self.spans: list[ZipkinSpan] = [self._new(None)]
        # The core annotations seen, by value (set by name in ``annotations``).
        self.cs: V1Annotation | None = None
        self.sr: V1Annotation | None = None
        self.ss: V1Annotation | None = None
        self.cr: V1Annotation | None = None
        self.ms: V1Annotation | None = None
        self.mr: V1Annotation | None = None
        self.ws: V1Annotation | None = None
        self.wr: V1Annotation | None = None

    def _new(self, endpoint: Endpoint | None) -> ZipkinSpan:
        s = self.src
        return ZipkinSpan(
            trace_id=s.trace_id, id=s.id, parent_id=s.parent_id, name=s.name, debug=s.debug, local_endpoint=endpoint
        )

    def _fork(self, endpoint: Endpoint | None) -> ZipkinSpan:
        span = self._new(endpoint)
        self.spans.append(span)
        return span

    def at(self, endpoint: Endpoint | None) -> ZipkinSpan:
        """The v2 span of ``endpoint``'s service (the first span when there is no host)."""
        if endpoint is None:
            return self.spans[0]
        for span in self.spans:
            if span.local_endpoint is None:
                span.local_endpoint = endpoint
                return span
            if span.local_endpoint.service_name == endpoint.service_name:
                return span
        return self._fork(endpoint)

    def timed(self, begin: V1Annotation, end: V1Annotation | None) -> None:
        """Time the span of ``begin``: the v1 span's own times if complete, else the
        annotations'."""
        span = self.at(begin.endpoint)
        src = self.src
        if src.timestamp and src.duration:
            span.timestamp, span.duration = src.timestamp, src.duration
        else:
            span.timestamp = begin.timestamp
            if end is not None:
                span.duration = max(end.timestamp - begin.timestamp, 0)

    def annotations(self) -> None:
        src = self.src
        for a in src.annotations:
            span = self.at(a.endpoint)
            value = a.value
            if a.endpoint is not None and value in CORE_ANNOTATIONS:
                setattr(self, value, a)
                kind = _KIND_OF_CORE.get(value)
                if kind:
                    span.kind = kind
            else:
                span.annotations.append(Annotation(a.timestamp, value))

        cs, sr, ss, cr = self.cs, self.sr, self.ss, self.cr
        # A span bridged from an event model may lack its start annotation.
        if cs is None and self._end_is_span_end(cr):
            cs = self.cs = V1Annotation(src.timestamp, "cs", cr.endpoint)  # type: ignore[union-attr]
        if sr is None and self._end_is_span_end(ss):
            sr = self.sr = V1Annotation(src.timestamp, "sr", ss.endpoint)  # type: ignore[union-attr]

        if cs is not None and sr is not None:
            # Both sides in one span: the client owns the span's times.
            self.timed(cs, cr)
            client = self.at(cs.endpoint)
            if _same_service(cs.endpoint, sr.endpoint):  # type: ignore[arg-type]
                client.kind = "CLIENT"
                server = self._fork(sr.endpoint)
                server.kind = "SERVER"
            else:
                server = self.at(sr.endpoint)
            server.shared = True
            server.timestamp = sr.timestamp
            if ss is not None:
                server.duration = max(ss.timestamp - sr.timestamp, 0)
            if cr is None and src.duration == 0:
                client.duration = 0  # one-way: no duration
        elif cs is not None and cr is not None:
            self.timed(cs, cr)
        elif sr is not None and ss is not None:
            self.timed(sr, ss)
        else:
            self._incomplete_rpc()

        # v1 has no shared flag: a server side without the span timestamp is shared.
        if cs is None and sr is not None and (src.timestamp == 0 or (ss is not None and src.duration == 0)):
            self.at(sr.endpoint).shared = True

        ms, mr, ws, wr = self.ms, self.mr, self.ws, self.wr
        if ms is not None and mr is not None:
            producer = self.at(ms.endpoint)
            if _same_service(ms.endpoint, mr.endpoint):  # type: ignore[arg-type]
                producer.kind = "PRODUCER"
                consumer = self._fork(mr.endpoint)
                consumer.kind = "CONSUMER"
            else:
                consumer = self.at(mr.endpoint)
            consumer.shared = True
            if wr is not None:
                consumer.timestamp = wr.timestamp
                consumer.duration = max(mr.timestamp - wr.timestamp, 0)
            else:
                consumer.timestamp = mr.timestamp
            producer.timestamp = ms.timestamp
            producer.duration = max(ws.timestamp - ms.timestamp, 0) if ws is not None else 0
        elif ms is not None:
            self.timed(ms, ws)
        elif mr is not None:
            if wr is not None:
                self.timed(wr, mr)
            else:
                self.timed(mr, None)
        else:
            for a in (ws, wr):
                if a is not None:
                    self.at(a.endpoint).annotations.append(Annotation(a.timestamp, a.value))

    def _end_is_span_end(self, end: V1Annotation | None) -> bool:
        src = self.src
        return (
            end is not None
            and src.timestamp != 0
            and src.duration != 0
            and src.timestamp + src.duration == end.timestamp
        )

    def _incomplete_rpc(self) -> None:
        for span in self.spans:
            if span.kind == "CLIENT":
                if self.cs is not None:
                    span.timestamp = self.cs.timestamp
                if self.cr is not None:
                    span.annotations.append(Annotation(self.cr.timestamp, self.cr.value))
            elif span.kind == "SERVER":
                if self.sr is not None:
                    span.timestamp = self.sr.timestamp
                if self.ss is not None:
                    span.annotations.append(Annotation(self.ss.timestamp, self.ss.value))
        src = self.src
        if src.timestamp:
            first = self.spans[0]
            first.timestamp, first.duration = src.timestamp, src.duration

    def binary_annotations(self) -> None:
        ca = sa = ma = None
        for b in self.src.binary_annotations:
            if b.value is None:
                if b.key == "ca":
                    ca = b.endpoint
                elif b.key == "sa":
                    sa = b.endpoint
                elif b.key == "ma":
                    ma = b.endpoint
                continue
            span = self.at(b.endpoint)
            if b.key == "lc" and b.value == "":
                continue  # only a marker of the local endpoint
            span.tags[b.key] = b.value

        cs, sr, ss, cr, ms, mr = self.cs, self.sr, self.ss, self.cr, self.ms, self.mr
        if cs is None and cr is None and ss is None and sr is None and (ca is not None or sa is not None):
            if ca is not None and sa is not None:
                self.at(ca).remote_endpoint = sa
            elif sa is not None:
                self.at(None).remote_endpoint = sa  # a remote address, not a client span
            else:
                span = self.at(None)
                span.kind = "SERVER"
                span.remote_endpoint = ca
            return

        server = sr if sr is not None else ss
        if ca is not None and server is not None and ca != server.endpoint:
            if _same_service(ca, server.endpoint):
                # Finagle's "ca" carries the server's own service name; drop it to avoid a
                # loopback link.
                ca = ca._replace(service_name="")
            self.at(server.endpoint).remote_endpoint = ca
        if sa is not None:
            if cs is not None:
                self.at(cs.endpoint).remote_endpoint = sa
            elif cr is not None:
                self.at(cr.endpoint).remote_endpoint = sa
        if ma is not None:
            if ms is not None:
                self.at(ms.endpoint).remote_endpoint = ma
            if mr is not None:
                self.at(mr.endpoint).remote_endpoint = ma

    def finish(self) -> list[ZipkinSpan]:
        for span in self.spans:
            if span.shared and span.kind == "CLIENT":
                span.shared = False  # shared is a server-side notion
            if len(span.annotations) > 1:
                span.annotations.sort(key=lambda a: a.timestamp)
        return self.spans


def v1_to_v2(span: V1Span) -> list[ZipkinSpan]:
    """One v1 span as one or more v2 spans (see the module docstring)."""
    conv = _Converter(span)
    conv.annotations()
    conv.binary_annotations()
    return conv.finish()


_BEGIN_END_REMOTE = {
    "CLIENT": ("cs", "cr", "sa"),
    "SERVER": ("sr", "ss", "ca"),
    "PRODUCER": ("ms", "ws", "ma"),
}


def v2_to_v1(span: ZipkinSpan) -> V1Span:
    """One v2 span as a v1 span that ``v1_to_v2`` turns back into the same v2 span."""
    local = span.local_endpoint
    ts, duration = span.timestamp, span.duration
    kind = span.kind
    if kind == "CONSUMER":
        begin, end, remote_key = ("wr", "mr", "ma") if duration else ("mr", None, "ma")
    else:
        begin, end, remote_key = _BEGIN_END_REMOTE.get(kind, (None, None, "sa"))
    out = V1Span(trace_id=span.trace_id, id=span.id, name=span.name, parent_id=span.parent_id, debug=span.debug)
    if not (span.shared and kind == "SERVER"):
        out.timestamp, out.duration = ts, duration
    annotations = out.annotations
    if begin is not None and ts:
        annotations.append(V1Annotation(ts, begin, local))
        if end is not None and duration:
            annotations.append(V1Annotation(ts + duration, end, local))
    annotations.extend(V1Annotation(a.timestamp, a.value, local) for a in span.annotations)
    annotations.sort(key=lambda a: a.timestamp)
    binary = out.binary_annotations
    binary.extend(V1BinaryAnnotation(k, v, local) for k, v in span.tags.items())
    if local is not None and not annotations and not binary:
        binary.append(V1BinaryAnnotation("lc", "", local))
    if span.remote_endpoint is not None:
        binary.append(V1BinaryAnnotation(remote_key, None, span.remote_endpoint))
    return out


def v1_spans_to_model(spans: list[V1Span]) -> list[Span]:
    """v1 spans as model spans, through the v2 shape."""
    return to_model(z for v1 in spans for z in v1_to_v2(v1))
