"""A short run of every fuzz target in ``make test`` (the full run is ``bench/fuzz.py``:
a million inputs per target). Seeds, then seeded mutations, each input under a time limit;
a failing input is written under the test's temporary folder and named in the failure
(copy it into ``corpus/<target>/`` with the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.fuzz_harness import load

fz = load()
TARGETS = fz.build_targets()
INPUTS = 3000


def test_every_decoder_has_a_target() -> None:
    """The issue's list of decoders and parsers, by the names the docs use."""
    expected = {"jaeger_thrift_binary", "jaeger_thrift_compact", "udp_jaeger_compact", "udp_jaeger_binary",
                "agent_jaeger_compact", "agent_jaeger_binary", "udp_zipkin_compact", "jaeger_proto",
                "jaeger_proto_json", "otlp_proto", "otlp_json", "zipkin_json_v1", "zipkin_json_v2", "zipkin_proto",
                "zipkin_thrift", "jaeger_ui_json", "buffer_batch", "wal_segment", "body_inflate", "query_params_v1",
                "query_params_v3", "go_duration", "go_time", "go_strconv", "go_json_map", "sampling_strategies"}
    assert expected <= set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_valid(name: str) -> None:
    """Seeds come from the codecs' own encoders: every one must pass (and most decode),
    or the fuzzer would start from garbage and never get deep."""
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds
    decoded = 0
    for seed in seeds:
        try:
            target.run(seed)
            decoded += 1
        except target.expected:
            pass
    assert decoded * 2 >= len(seeds), f"{name}: only {decoded} of {len(seeds)} seeds decode"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_smoke(name: str, tmp_path: Path) -> None:
    result = fz.fuzz_random(TARGETS[name], INPUTS, seed=1, timeout=10.0, save_root=tmp_path)
    assert result.inputs == INPUTS
    assert result.ok, "\n".join(result.failures)
