"""Go's ``time.Parse(time.RFC3339Nano, s)``, with Go's error texts.

api_v3's HTTP gateway takes its time parameters in this layout and reports parse failures
as ``malformed parameter query.startTimeMin: parsing time "x" as
"2006-01-02T15:04:05.999999999Z07:00": cannot parse "x" as "2006"``. Go's general layout
parser is followed chunk by chunk (it is more lenient than RFC 3339: a one-digit hour
passes), so the same inputs pass and fail with the same words.
"""

from __future__ import annotations

from spyglass.gocompat.godur import time_quote

LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_DIGITS = frozenset(b"0123456789")


class TimeParseError(ValueError):
    """``str()`` is Go's ``*time.ParseError`` text."""


def _q(b: bytes) -> str:
    return time_quote(b)


def _cannot(value: bytes, value_elem: bytes, layout_elem: str) -> TimeParseError:
    return TimeParseError(
        f"parsing time {_q(value)} as {_q(LAYOUT.encode())}: cannot parse {_q(value_elem)} as {_q(layout_elem.encode())}"
    )


def _message(value: bytes, message: str) -> TimeParseError:
    return TimeParseError(f"parsing time {_q(value)}{message}")


class _Bad(Exception):
    pass


def _getnum(s: bytes, fixed: bool) -> tuple[int, bytes]:
    if not s or s[0] not in _DIGITS:
        raise _Bad
    if len(s) < 2 or s[1] not in _DIGITS:
        if fixed:
            raise _Bad
        return s[0] - 0x30, s[1:]
    return (s[0] - 0x30) * 10 + (s[1] - 0x30), s[2:]


def _atoi(s: bytes) -> int:
    neg = False
    if s and s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if not s or any(c not in _DIGITS for c in s):
        raise _Bad
    v = int(s)
    return -v if neg else v


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year)."""
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_rfc3339_nano(text: str) -> int:
    """Unix nanoseconds of ``text``; raises ``TimeParseError`` with Go's message."""
    orig = text.encode("utf-8", errors="surrogateescape")
    value = orig
    fields: dict[str, int] = {}
    # (literal prefix, chunk) pairs of the layout, as Go's nextStdChunk splits it.
    chunks = [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"), ("", ".999999999"), ("", "Z07:00")]
    offset = 0
    nsec = 0
    for prefix, chunk in chunks:
        if prefix:
            if not value or value[:1] != prefix.encode():
                raise _cannot(orig, value, prefix)
            value = value[1:]
        hold = value
        range_error = ""
        try:
            if chunk == "2006":
                if len(value) < 4:
                    raise _Bad
                fields["year"] = _atoi(value[:4])
                value = value[4:]
            elif chunk == "01":
                month, value = _getnum(value, True)
                if not 1 <= month <= 12:
                    range_error = "month"
                fields["month"] = month
            elif chunk == "02":
                fields["day"], value = _getnum(value, True)
            elif chunk == "15":
                hour, value = _getnum(value, False)
                if not 0 <= hour < 24:
                    range_error = "hour"
                fields["hour"] = hour
            elif chunk == "04":
                minute, value = _getnum(value, True)
                if not 0 <= minute < 60:
                    range_error = "minute"
                fields["minute"] = minute
            elif chunk == "05":
                second, value = _getnum(value, True)
                if not 0 <= second < 60:
                    range_error = "second"
                fields["second"] = second
            elif chunk == ".999999999":
                if len(value) >= 2 and value[:1] in (b".", b",") and value[1] in _DIGITS:
                    n = 1
                    while n < len(value) and value[n] in _DIGITS:
                        n += 1
                    digits = value[1:n][:9]
                    nsec = int(digits) * 10 ** (9 - len(digits))
                    value = value[n:]
            else:  # Z07:00
                if value[:1] == b"Z":
                    value = value[1:]
                else:
                    if len(value) < 6 or value[3:4] != b":":
                        raise _Bad
                    sign, hh, mm = value[:1], value[1:3], value[4:6]
                    value = value[6:]
                    hours, _ = _getnum(hh, True)
                    minutes, _ = _getnum(mm, True)
                    if hours > 24:
                        range_error = "time zone offset hour"
                    if minutes > 60:
                        range_error = "time zone offset minute"
                    if sign not in (b"+", b"-") and not range_error:
                        raise _Bad
                    offset = (hours * 60 + minutes) * 60 * (1 if sign == b"+" else -1)
        except _Bad:
            raise _cannot(orig, hold, chunk) from None
        if range_error:
            raise _message(orig, f": {range_error} out of range")
    if value:
        raise _message(orig, ": extra text: " + _q(value))
    year, month, day = fields["year"], fields["month"], fields["day"]
    if day < 1 or day > _days_in(month, year):
        raise _message(orig, ": day out of range")
    days = _days_from_civil(year, month, day)
    seconds = days * 86400 + fields["hour"] * 3600 + fields["minute"] * 60 + fields["second"] - offset
    return seconds * 1_000_000_000 + nsec
