"""Tail sampling with tenants: two tenants' traces that share a trace ID are held and
decided apart, so one tenant's error never keeps the other's trace."""

from __future__ import annotations

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.tailsampling import TailSamplingSink, parse_tail_config
from spyglass.model import Resource, Span, Status, StatusCode
from spyglass.storage.api.tenants import TenantRoutingWriter
from spyglass.storage.memory import MemoryFactory
from support import wait_for

MS = 1_000_000


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def trace(tenant: str, error: bool) -> list[Span]:
    return [Span(0x7777, i + 1, f"op{i}", 1_700_000_000_000 * MS + i * MS, MS, Resource(f"{tenant}-svc"),
                 parent_span_id=i, tenant=tenant,
                 status=Status(StatusCode.ERROR if error and i == 2 else StatusCode.UNSET)) for i in range(3)]


async def test_same_trace_id_in_two_tenants_is_decided_per_tenant() -> None:
    storage = MemoryFactory()
    processor = SpanProcessor(TenantRoutingWriter(storage), IngestMetrics(), ProcessorConfig(queue_size=1000))
    clock = Clock()
    config = parse_tail_config({"decision_wait": "1s", "policies": [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]})
    sink = TailSamplingSink(processor, config, clock=clock)
    processor.start()
    try:
        await sink.accept(trace("acme", error=True), receiver="test", fmt="model")
        await sink.accept(trace("globex", error=False), receiver="test", fmt="model")
        clock.now += 2
        assert sink.decide_due() == 2
        await sink._flush_release()
        wait_for(lambda: len(storage.for_tenant("acme").trace_reader().get_trace(0x7777)) == 3)
        assert storage.for_tenant("globex").trace_reader().get_trace(0x7777) == []
    finally:
        processor.close()
