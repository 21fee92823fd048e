"""The OpenTracing tracer: starts spans, owns the sampler, reporter and propagators.

``start_span`` is the hot path. It finds the parent (explicit ``child_of``, the first
reference, else the active span), copies IDs, flags and baggage straight from a parent
``Span`` without building its context, asks the sampler only for new traces, and tags
sampled roots with the sampler's decision (``sampler.type``/``sampler.param``) for the
backend's adaptive sampling. A parent that is only a debug ID (``jaeger-debug-id``)
starts a new trace that is sampled and marked debug, tagged with that ID.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from time import time_ns
from typing import Any

import opentracing
from opentracing import Format, InvalidCarrierException, ReferenceType, UnsupportedFormatException

from spyglass.client.constants import (
    BAGGAGE_HEADER_PREFIX,
    CLIENT_VERSION,
    DEBUG_FLAG,
    DEBUG_ID_HEADER_KEY,
    JAEGER_HOSTNAME_TAG_KEY,
    JAEGER_IP_TAG_KEY,
    JAEGER_VERSION_TAG_KEY,
    MAX_TAG_VALUE_LENGTH,
    MAX_TRACEBACK_LENGTH,
    SAMPLED_FLAG,
    TRACE_ID_HEADER,
)
from spyglass.client.context import EMPTY_BAGGAGE, SpanContext
from spyglass.client.ids import IdGenerator, RandomIdGenerator
from spyglass.client.propagation import BinaryPropagator, Propagator, build_propagator, header_view
from spyglass.client.reporting.base import Reporter
from spyglass.client.sampling.base import Sampler
from spyglass.client.scope import ContextVarsScopeManager
from spyglass.client.span import Span
from spyglass.model import KeyValue, Resource

log = logging.getLogger("jaeger_tracing")

_U64 = (1 << 64) - 1
_DEBUG_SAMPLED = SAMPLED_FLAG | DEBUG_FLAG


def local_ip() -> str | None:
    """This host's IP as jaeger-client reports it (the ``ip`` process tag)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return None


def _parent_from_references(references: Sequence[opentracing.Reference]) -> Any:
    """The first CHILD_OF reference's context, else the first reference's."""
    first = None
    for ref in references:
        if ref is None or ref.referenced_context is None:
            continue
        if ref.type == ReferenceType.CHILD_OF:
            return ref.referenced_context
        if first is None:
            first = ref.referenced_context
    return first


class Tracer(opentracing.Tracer):
    """Arguments follow ``jaeger_client.Tracer``; ``propagation`` takes format names
    (``"jaeger,b3,w3c"``, see ``spyglass.client.propagation``) for text maps and HTTP
    headers, ``extra_codecs`` maps further OpenTracing formats to propagators."""

    def __init__(
        self,
        service_name: str,
        reporter: Reporter,
        sampler: Sampler,
        metrics: Any = None,
        metrics_factory: Any = None,
        trace_id_header: str = TRACE_ID_HEADER,
        generate_128bit_trace_id: bool = False,
        baggage_header_prefix: str = BAGGAGE_HEADER_PREFIX,
        debug_id_header: str = DEBUG_ID_HEADER_KEY,
        one_span_per_rpc: bool = False,
        extra_codecs: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        max_tag_value_length: int = MAX_TAG_VALUE_LENGTH,
        max_traceback_length: int = MAX_TRACEBACK_LENGTH,
        throttler: Any = None,
        scope_manager: opentracing.ScopeManager | None = None,
        propagation: str | Sequence[str] | None = None,
        id_generator: IdGenerator | None = None,
    ) -> None:
        if not service_name:
            raise ValueError("service_name is required")
        super().__init__(scope_manager or ContextVarsScopeManager())
        self.service_name = service_name
        self.reporter = reporter
        self._reporter = reporter  # read by Span.finish
        self.sampler = sampler
        self.max_tag_value_length = max_tag_value_length
        self.max_traceback_length = max_traceback_length
        self.generate_128bit_trace_id = generate_128bit_trace_id
        self.id_generator = id_generator or RandomIdGenerator(generate_128bit_trace_id)
        self._new_trace_id = self.id_generator.new_trace_id
        self._new_span_id = self.id_generator.new_span_id
        self._is_sampled = sampler.is_sampled
        sm = self._scope_manager
        self._active_var = sm._var if isinstance(sm, ContextVarsScopeManager) else None

        self.tags: dict[str, Any] = {JAEGER_VERSION_TAG_KEY: CLIENT_VERSION, JAEGER_HOSTNAME_TAG_KEY: socket.gethostname()}
        ip = local_ip()
        if ip:
            self.tags[JAEGER_IP_TAG_KEY] = ip
        self.tags.update(tags or {})
        self.process = Resource(service_name, [KeyValue(k, v) for k, v in self.tags.items()])
        reporter.set_process(self.process, max_tag_value_length, max_traceback_length)

        self.debug_id_header = debug_id_header
        self.codecs: dict[str, Any] = {
            Format.TEXT_MAP: build_propagator(propagation, False, trace_id_header, baggage_header_prefix, debug_id_header),
            Format.HTTP_HEADERS: build_propagator(propagation, True, trace_id_header, baggage_header_prefix, debug_id_header),
            Format.BINARY: BinaryPropagator(),
        }
        self.codecs.update(extra_codecs or {})

    # -- spans ---------------------------------------------------------------------------
    def start_span(
        self,
        operation_name: str | None = None,
        child_of: opentracing.Span | opentracing.SpanContext | None = None,
        references: Sequence[opentracing.Reference] | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: float | None = None,
        ignore_active_span: bool = False,
    ) -> Span:
        parent: Any = child_of
        if parent is None:
            if references:
                parent = _parent_from_references(references)
            if parent is None and not ignore_active_span:
                var = self._active_var
                scope = var.get() if var is not None else self._scope_manager.active
                if scope is not None:
                    parent = scope.span
        start = time_ns() if start_time is None else int(start_time * 1e9)
        refs = list(references) if references else None
        if type(parent) is Span:
            span = Span(self, operation_name, parent.trace_id, self._new_span_id(), parent.span_id,
                        parent.flags, parent.baggage, start, parent.trace_state, refs)
        else:
            if parent is not None and isinstance(parent, opentracing.Span):
                parent = parent.context
            if parent is not None and getattr(parent, "trace_id", 0):
                span = Span(self, operation_name, parent.trace_id, self._new_span_id(), parent.span_id,
                            parent.flags, getattr(parent, "baggage", None) or EMPTY_BAGGAGE, start,
                            getattr(parent, "trace_state", ""), refs)
            else:
                span = self._start_root(operation_name, parent, start, refs)
        if tags:
            for key, value in tags.items():
                span.set_tag(key, value)
        return span

    def _start_root(self, operation_name: str | None, parent: Any, start: int, refs: list | None) -> Span:
        trace_id = self._new_trace_id()
        if parent is None:
            baggage, debug_id = EMPTY_BAGGAGE, None
        else:  # a partial context from extract: only baggage, or a debug ID
            baggage = getattr(parent, "baggage", None) or EMPTY_BAGGAGE
            debug_id = getattr(parent, "debug_id", None)
        if debug_id:
            span = Span(self, operation_name, trace_id, trace_id & _U64, 0, _DEBUG_SAMPLED, baggage, start, "", refs)
            span.tags.append((self.debug_id_header, debug_id))
            return span
        sampled, sampler_tags = self._is_sampled(trace_id, operation_name or "")
        span = Span(self, operation_name, trace_id, trace_id & _U64, 0, 1 if sampled else 0, baggage, start, "", refs)
        if sampled:
            span.tags.extend(sampler_tags.items() if isinstance(sampler_tags, dict) else sampler_tags)
        return span

    def start_active_span(
        self,
        operation_name: str,
        child_of: opentracing.Span | opentracing.SpanContext | None = None,
        references: Sequence[opentracing.Reference] | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: float | None = None,
        ignore_active_span: bool = False,
        finish_on_close: bool = True,
    ) -> opentracing.Scope:
        span = self.start_span(operation_name, child_of, references, tags, start_time, ignore_active_span)
        return self._scope_manager.activate(span, finish_on_close)

    # -- propagation ---------------------------------------------------------------------
    def inject(self, span_context: Any, format: str, carrier: Any) -> None:
        codec = self.codecs.get(format)
        if codec is None:
            raise UnsupportedFormatException(format)
        if isinstance(span_context, opentracing.Span):
            span_context = span_context.context
        if not isinstance(span_context, SpanContext):
            span_context = _adopt_context(span_context)
        if isinstance(codec, BinaryPropagator):
            if not isinstance(carrier, bytearray):
                raise InvalidCarrierException("the BINARY carrier must be a bytearray")
            codec.inject(span_context, carrier)
            return
        if isinstance(codec, Propagator):
            if not hasattr(carrier, "__setitem__"):
                raise InvalidCarrierException(f"carrier of type {type(carrier).__name__} cannot take headers")
            codec.inject(span_context, carrier)
        else:  # a jaeger_client-style codec object
            codec.inject(span_context, carrier)

    def extract(self, format: str, carrier: Any) -> SpanContext | None:
        """The context in ``carrier``; None (start a new trace) when there is none or it is
        malformed. Raises only for an unknown format or a carrier of the wrong type."""
        codec = self.codecs.get(format)
        if codec is None:
            raise UnsupportedFormatException(format)
        if isinstance(codec, BinaryPropagator):
            if not isinstance(carrier, (bytes, bytearray, memoryview)):
                raise InvalidCarrierException("the BINARY carrier must be bytes or a bytearray")
            return codec.extract(carrier)
        if isinstance(codec, Propagator):
            if carrier is None or isinstance(carrier, (str, bytes)) or not (
                hasattr(carrier, "items") or isinstance(carrier, (list, tuple))
            ):
                raise InvalidCarrierException(f"carrier of type {type(carrier).__name__} is not a mapping")
            return codec.extract(header_view(carrier))
        return codec.extract(carrier)

    # -- lifecycle -----------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Send every finished span now; True when all were handed to the sender."""
        return self.reporter.flush(timeout)

    def close(self, timeout: float | None = None) -> Future[None]:
        """Stop sampling polls, flush every finished span and release the reporter.

        Blocks until done and returns an already completed future, so both plain
        ``tracer.close()`` and jaeger-client style ``yield tracer.close()`` work."""
        done: Future[None] = Future()
        try:
            self.sampler.close()
            self.reporter.close(timeout)
        except Exception as exc:  # closing must not raise into shutdown code
            log.warning("error closing tracer: %s", exc)
        done.set_result(None)
        return done

    def __repr__(self) -> str:
        return f"<spyglass Tracer service={self.service_name!r} sampler={self.sampler!r} reporter={self.reporter!r}>"


def _adopt_context(ctx: Any) -> SpanContext:
    """A span context from another library (e.g. jaeger_client's) with the same fields."""
    try:
        return SpanContext(ctx.trace_id, ctx.span_id, getattr(ctx, "parent_id", 0) or 0, ctx.flags,
                           dict(getattr(ctx, "baggage", {}) or {}))
    except AttributeError:
        raise InvalidCarrierException(f"cannot inject a {type(ctx).__name__}") from None
