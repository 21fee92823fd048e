"""What multi-tenancy costs on the ingest path, per span, against the same path without it
(measured in the same run): the gate (rate-limit bucket and tenant stamp), the routing
writer in front of the memory backend, and the buffer encoding with tenants (write-ahead
log and NATS). CPU time (``time.process_time``), best of 5 rounds of 20 batches of 1,000
spans.

    flock /work/bench.lock .venv/bin/python bench/tenancy.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, make_spans, write_section  # noqa: E402

from spyglass.collector.buffer.encoding import decode_batch, encode_batch  # noqa: E402
from spyglass.model import Span  # noqa: E402
from spyglass.storage.api.tenants import TenantRoutingWriter  # noqa: E402
from spyglass.storage.memory import MemoryConfig, MemoryFactory  # noqa: E402
from spyglass.tenancy.config import TenancyConfig  # noqa: E402
from spyglass.tenancy.gate import TenancyGate  # noqa: E402

BATCH = 1000
BATCHES = 20


def cpu_us_per_span(setup: Callable[[], Callable[[list[Span]], object]], batches: list[list[Span]]) -> float:
    best = float("inf")
    for _ in range(5):
        step = setup()
        t0 = time.process_time()
        for b in batches:
            step(b)
        best = min(best, time.process_time() - t0)
    return best / (len(batches) * BATCH) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    spans = make_spans(BATCH * BATCHES)
    batches = [spans[i:i + BATCH] for i in range(0, len(spans), BATCH)]
    gate = TenancyGate(TenancyConfig(enabled=True, tenants=frozenset({"acme", "globex"}),
                                     ingest_rate={"acme": 1e12}))

    def plain_write() -> Callable[[list[Span]], object]:
        return MemoryFactory(MemoryConfig(max_traces=10**7)).span_writer().write_spans

    def tenant_write() -> Callable[[list[Span]], object]:
        writer = TenantRoutingWriter(MemoryFactory(MemoryConfig(max_traces=10**7)))

        def step(b: list[Span]) -> None:
            gate.admit("acme", b)  # the bucket and the stamp, as receivers do
            writer.write_spans(b)

        return step

    def reset(tenant: str) -> None:
        for s in spans:
            s.tenant = tenant

    reset("")
    write_off = cpu_us_per_span(plain_write, batches)
    write_on = cpu_us_per_span(tenant_write, batches)
    reset("")
    enc_off = cpu_us_per_span(lambda: lambda b: decode_batch(encode_batch(b)), batches)
    reset("acme")
    enc_on = cpu_us_per_span(lambda: lambda b: decode_batch(encode_batch(b)), batches)
    reset("")
    rows = [
        ("gate + routing writer + memory store write", write_off, write_on),
        ("buffer encode + decode (write-ahead log, NATS)", enc_off, enc_on),
    ]
    table = "\n".join(["| path | off: CPU µs/span | on: CPU µs/span | on / off |", "| --- | ---: | ---: | ---: |"]
                      + [f"| {name} | {off:.2f} | {on:.2f} | {on / off:.2f} |" for name, off, on in rows])
    print(table)
    load = os.getloadavg()[0]
    body = f"""## Multi-tenancy (`bench/tenancy.py`)

`flock /work/bench.lock .venv/bin/python bench/tenancy.py` ({machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load:.2f}).
CPU per span of the ingest steps tenancy touches, with tenancy off (the reference, same run) and on
(one tenant per request, a rate limit configured): best of 5 rounds of 20 batches of 1,000 spans.

{table}
"""
    if not args.no_write:
        write_section("tenancy", body)


if __name__ == "__main__":
    main()
