"""Go's RFC 3339 (nano) time parsing: values and Go's error texts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from spyglass.gocompat.gotime import TimeParseError, parse_rfc3339_nano

LAYOUT = '"2006-01-02T15:04:05.999999999Z07:00"'


def _ns(*args: int, nanos: int = 0) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 1_000_000_000 + nanos


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2000-01-02T12:30:08.999999998Z", _ns(2000, 1, 2, 12, 30, 8, nanos=999999998)),
        ("2000-04-05T21:55:16.999999992+08:00", _ns(2000, 4, 5, 13, 55, 16, nanos=999999992)),
        ("2024-02-29T23:59:59.5-01:30", _ns(2024, 3, 1, 1, 29, 59, nanos=500_000_000)),
        ("2024-01-01T00:00:00.1234567891234Z", _ns(2024, 1, 1, nanos=123456789)),
        ("2024-01-01T00:00:00,25Z", _ns(2024, 1, 1, nanos=250_000_000)),
        ("2024-01-01T7:00:00Z", _ns(2024, 1, 1, 7)),
        ("1969-12-31T23:59:59Z", -1_000_000_000),
    ],
)
def test_valid(text: str, ns: int) -> None:
    assert parse_rfc3339_nano(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", f'parsing time "abc" as {LAYOUT}: cannot parse "abc" as "2006"'),
        ("NaN", f'parsing time "NaN" as {LAYOUT}: cannot parse "NaN" as "2006"'),
        ("", f'parsing time "" as {LAYOUT}: cannot parse "" as "2006"'),
        ("2024/01/01T00:00:00Z", f'parsing time "2024/01/01T00:00:00Z" as {LAYOUT}: cannot parse "/01/01T00:00:00Z" as "-"'),
        ("2024-1-01T00:00:00Z", f'parsing time "2024-1-01T00:00:00Z" as {LAYOUT}: cannot parse "1-01T00:00:00Z" as "01"'),
        ("2024-01-01 00:00:00Z", f'parsing time "2024-01-01 00:00:00Z" as {LAYOUT}: cannot parse " 00:00:00Z" as "T"'),
        ("2024-01-01T00:00:00", f'parsing time "2024-01-01T00:00:00" as {LAYOUT}: cannot parse "" as "Z07:00"'),
        ("2024-01-01T00:00:00+0100", f'parsing time "2024-01-01T00:00:00+0100" as {LAYOUT}: cannot parse "+0100" as "Z07:00"'),
        ("2024-13-01T00:00:00Z", 'parsing time "2024-13-01T00:00:00Z": month out of range'),
        ("2023-02-29T00:00:00Z", 'parsing time "2023-02-29T00:00:00Z": day out of range'),
        ("2024-01-01T24:00:00Z", 'parsing time "2024-01-01T24:00:00Z": hour out of range'),
        ("2024-01-01T00:60:00Z", 'parsing time "2024-01-01T00:60:00Z": minute out of range'),
        ("2024-01-01T00:00:00Zjunk", 'parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk"'),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_rfc3339_nano(text)
    assert str(info.value) == message
