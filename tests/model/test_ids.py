import pytest

from spyglass.model import (
    format_span_id,
    format_trace_id,
    parse_span_id,
    parse_trace_id,
    trace_id_from_halves,
    trace_id_halves,
)


def test_signed_thrift_halves_become_one_unsigned_id() -> None:
    tid = trace_id_from_halves(-1, -2)
    assert tid == (0xFFFFFFFFFFFFFFFF << 64) | 0xFFFFFFFFFFFFFFFE
    assert trace_id_halves(tid) == (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE)


def test_format_trace_id_is_16_chars_when_high_half_is_zero() -> None:
    assert format_trace_id(0x11) == "0000000000000011"
    assert format_trace_id((1 << 64) | 0x11) == "00000000000000010000000000000011"
    assert format_span_id(0xAB) == "00000000000000ab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("00000000000000ff", 255), ("10000000000000000", 1 << 64), ("F" * 32, (1 << 128) - 1)],
)
def test_parse_trace_id(text: str, expected: int) -> None:
    assert parse_trace_id(text) == expected


@pytest.mark.parametrize("text", ["", "x1", "1" * 33, "-1", "0x1", " 1"])
def test_parse_trace_id_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_trace_id(text)


def test_parse_span_id_limits() -> None:
    assert parse_span_id("ff") == 255
    with pytest.raises(ValueError):
        parse_span_id("1" * 17)
