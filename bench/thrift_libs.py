"""Which Thrift library should decode Jaeger Thrift? Decode + convert to the model, µs/span.

Decodes the same 1,000-span ``Batch`` (traces of 10, ~8 tags, 1 log with 2 fields, a
parent; ``bench/_common.make_spans``) with:

* ``thrift`` + fastbinary C extension (``TBinaryProtocolAccelerated`` /
  ``TCompactProtocolAccelerated``): what ``spyglass.codecs.jaeger_thrift`` uses;
* thriftpy2 loading our ``.thrift`` files: cythonized binary protocol, and its compact
  protocol (pure Python);
* ``thrift``'s pure-Python protocols (the generated classes' fallback path).

Every variant ends in the same model conversion (``batch_to_spans`` reads the attribute
names both libraries share), so the numbers compare decoders, not converters. Also times
the codec's public entry points (``decode_batch`` binary, ``decode_agent_message``
compact, and the encoders). Run: ``.venv/bin/python bench/thrift_libs.py`` (~20-40 s).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import thriftpy2  # noqa: E402
from thrift.protocol.TBinaryProtocol import TBinaryProtocol  # noqa: E402
from thrift.protocol.TCompactProtocol import TCompactProtocol  # noqa: E402
from thrift.transport.TTransport import TMemoryBuffer  # noqa: E402
from thriftpy2.protocol import TCompactProtocolFactory, TCyBinaryProtocolFactory  # noqa: E402
from thriftpy2.protocol import TBinaryProtocolFactory as Py2BinaryFactory  # noqa: E402
from thriftpy2.transport.memory import TCyMemoryBuffer  # noqa: E402
from thriftpy2.transport import TMemoryBuffer as Py2MemoryBuffer  # noqa: E402

from _common import make_spans  # noqa: E402
from spyglass.codecs import jaeger_thrift as jt  # noqa: E402
from spyglass.codecs.thrift.gen.jaeger.ttypes import Batch  # noqa: E402

IDL = Path(jt.__file__).resolve().parent / "thrift" / "jaeger.thrift"
N_SPANS = 1000


def _time(fn: Callable[[], object], rounds: int, budget_s: float) -> float:
    """Median seconds of one call over ``rounds`` (fewer if the budget runs out)."""
    fn()  # warm-up
    times = []
    deadline = time.perf_counter() + budget_s
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline and len(times) >= 3:
            break
    return statistics.median(times)


def main() -> None:
    spans = make_spans(N_SPANS, services=1)
    binary = jt.encode_batch(spans, "binary")
    compact = jt.encode_batch(spans, "compact")
    agent_compact = jt.encode_agent_message(spans, "compact")
    assert jt.ACCELERATED, "thrift's fastbinary C extension is not in use"
    expected = jt.decode_batch(binary)  # µs times, log "event" as the event name
    assert len(expected) == N_SPANS and jt.decode_batch(compact, "compact") == expected

    tp2 = thriftpy2.load(str(IDL), module_name="jaeger_bench_thrift")

    def py_thrift(data: bytes, proto_cls: type) -> list:
        batch = Batch()
        batch.read(proto_cls(TMemoryBuffer(data)))
        return jt.batch_to_spans(batch)

    def tp2_decode(data: bytes, factory: object, buffer: type) -> list:
        batch = tp2.Batch()
        batch.read(factory.get_protocol(buffer(data)))  # type: ignore[attr-defined]
        return jt.batch_to_spans(batch)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("thrift fastbinary, binary (chosen)", lambda: jt.decode_batch(binary, "binary"), 30),
        ("thrift fastbinary, compact (chosen)", lambda: jt.decode_batch(compact, "compact"), 30),
        ("thriftpy2 cybin, binary", lambda: tp2_decode(binary, TCyBinaryProtocolFactory(), TCyMemoryBuffer), 30),
        ("thriftpy2 pure Python, binary", lambda: tp2_decode(binary, Py2BinaryFactory(), Py2MemoryBuffer), 5),
        ("thriftpy2 pure Python, compact", lambda: tp2_decode(compact, TCompactProtocolFactory(), Py2MemoryBuffer), 5),
        ("thrift pure-Python protocol, binary", lambda: py_thrift(binary, TBinaryProtocol), 5),
        ("thrift pure-Python protocol, compact", lambda: py_thrift(compact, TCompactProtocol), 5),
    ]
    for name, fn, _ in cases:  # every path must produce the same model spans
        assert fn() == expected, name

    print(f"Decode + convert to spyglass.model, {N_SPANS}-span Batch "
          f"(binary {len(binary) / N_SPANS:.0f} B/span, compact {len(compact) / N_SPANS:.0f} B/span)")
    for gc_mode in ("gc on (default thresholds)", "gc frozen + threshold 100000"):
        if gc_mode.startswith("gc frozen"):
            gc.collect()
            gc.freeze()
            gc.set_threshold(100_000, 50, 100)
        print(f"\n-- {gc_mode}")
        results = {name: _time(fn, rounds, 4.0) * 1e6 / N_SPANS for name, fn, rounds in cases}
        chosen = {"binary": results[cases[0][0]], "compact": results[cases[1][0]]}
        print(f"{'library':40} {'µs/span':>9} {'spans/s':>9} {'vs chosen':>10}")
        for name, us in results.items():
            ref = chosen["compact" if "compact" in name else "binary"]
            print(f"{name:40} {us:9.2f} {1e6 / us:9.0f} {us / ref:9.2f}x")

        public = {
            "decode_batch(binary)": lambda: jt.decode_batch(binary, "binary"),
            "decode_agent_message(compact)": lambda: jt.decode_agent_message(agent_compact, "compact"),
            "encode_batch(binary)": lambda: jt.encode_batch(spans, "binary"),
            "encode_agent_message(compact)": lambda: jt.encode_agent_message(spans, "compact"),
        }
        print(f"\n{'public entry point':40} {'µs/span':>9} {'spans/s':>9}")
        for name, fn in public.items():
            us = _time(fn, 30, 4.0) * 1e6 / N_SPANS
            print(f"{name:40} {us:9.2f} {1e6 / us:9.0f}")


if __name__ == "__main__":
    main()
