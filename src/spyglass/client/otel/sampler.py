"""Jaeger remote sampling for the OpenTelemetry SDK.

``JaegerRemoteSampler`` polls a Jaeger sampling server (``/sampling?service=``) with the
same poller and per-operation logic as the OpenTracing client, and decides new traces
with it; the span name is the operation. Sampled root spans get ``sampler.type`` and
``sampler.param`` attributes (Jaeger tags), which the backend's adaptive sampling reads.
Children follow their parent's decision (``parent_based=True``, the usual SDK set-up), so
one trace is never half sampled; with ``parent_based=False`` wrap it in the SDK's own
``ParentBased`` sampler instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from spyglass.client.constants import DEFAULT_MAX_OPERATIONS, DEFAULT_SAMPLING_INTERVAL
from spyglass.client.sampling.base import Sampler as JaegerSampler
from spyglass.client.sampling.remote import DEFAULT_SAMPLING_URL, RemoteControlledSampler


class JaegerRemoteSampler(Sampler):
    def __init__(
        self,
        service_name: str,
        sampling_server_url: str = DEFAULT_SAMPLING_URL,
        initial_sampler: JaegerSampler | None = None,
        refresh_interval: float = DEFAULT_SAMPLING_INTERVAL,
        max_operations: int = DEFAULT_MAX_OPERATIONS,
        parent_based: bool = True,
    ) -> None:
        self.remote = RemoteControlledSampler(
            service_name, sampling_server_url, initial_sampler, refresh_interval, max_operations
        )
        self.parent_based = parent_based

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if self.parent_based and parent.is_valid:
            decision = Decision.RECORD_AND_SAMPLE if parent.trace_flags.sampled else Decision.DROP
            return SamplingResult(decision, attributes, parent.trace_state)
        sampled, tags = self.remote.is_sampled(trace_id, name)
        if not sampled:
            return SamplingResult(Decision.DROP, None, trace_state)
        merged = dict(attributes or {})
        merged.update(tags)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, merged, trace_state)

    def get_description(self) -> str:
        return f"JaegerRemoteSampler{{{self.remote.sampler!r}}}"

    def close(self) -> None:
        """Stop polling (the SDK has no sampler shutdown hook)."""
        self.remote.close()
