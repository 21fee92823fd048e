"""Go's ``time.Duration`` text forms: ``time.ParseDuration`` and ``Duration.String``.

Jaeger's HTTP API takes ``minDuration``/``maxDuration`` (and api_v3's ``durationMin/Max``)
as Go duration strings and reports clock-skew adjustments in span warnings with
``Duration.String()``. Clients compare those texts, so both directions follow Go exactly,
error messages included (they reach the client inside the 400 error envelope).

Durations are integer nanoseconds, like Go's ``time.Duration`` (a signed 64-bit count).
"""

from __future__ import annotations

_MAX = (1 << 63) - 1
_NANOSECOND = 1
_MICROSECOND = 1000
_MILLISECOND = 1000 * _MICROSECOND
_SECOND = 1000 * _MILLISECOND
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

# Keys are UTF-8 bytes because Go scans the unit byte by byte.
_UNITS: dict[bytes, int] = {
    b"ns": _NANOSECOND,
    b"us": _MICROSECOND,
    "µs".encode(): _MICROSECOND,  # U+00B5 micro sign
    "μs".encode(): _MICROSECOND,  # U+03BC Greek mu
    b"ms": _MILLISECOND,
    b"s": _SECOND,
    b"m": _MINUTE,
    b"h": _HOUR,
}

_LOWER_HEX = "0123456789abcdef"
_DIGITS = frozenset(b"0123456789")


class DurationError(ValueError):
    """A duration string Go would reject; ``str()`` is Go's exact error text."""


def time_quote(raw: bytes) -> str:
    """The ``time`` package's own quoting: bytes of non-ASCII or control characters as
    ``\\xNN``, ``"`` and ``\\`` backslash-escaped."""
    out = ['"']
    text = raw.decode("utf-8", errors="surrogateescape")
    for ch in text:
        code = ord(ch)
        if code >= 0x80 or code < 0x20:
            for b in ch.encode("utf-8", errors="surrogateescape"):
                out.append("\\x" + _LOWER_HEX[b >> 4] + _LOWER_HEX[b & 0xF])
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def _invalid(orig: bytes) -> DurationError:
    return DurationError("time: invalid duration " + time_quote(orig))


def parse_duration(text: str) -> int:
    """Parse a Go duration (``300ms``, ``-1.5h``, ``2h45m``, ``1µs``) into nanoseconds.

    Raises ``DurationError`` with Go's message (``time: invalid duration "x"``, ``time:
    missing unit in duration "10"``, ``time: unknown unit "d" in duration "1d"``).
    """
    orig = text.encode("utf-8", errors="surrogateescape")
    s = orig
    neg = False
    if s and s[0] in b"-+":
        neg = s[0] == 0x2D
        s = s[1:]
    if s == b"0":
        return 0
    if not s:
        raise _invalid(orig)
    total = 0
    while s:
        c = s[0]
        if not (c == 0x2E or c in _DIGITS):
            raise _invalid(orig)
        # integer part
        i = 0
        v = 0
        while i < len(s) and s[i] in _DIGITS:
            if v > (1 << 63) // 10:
                raise _invalid(orig)
            v = v * 10 + (s[i] - 0x30)
            if v > 1 << 63:
                raise _invalid(orig)
            i += 1
        pre = i > 0
        s = s[i:]
        # fraction part
        f = 0
        scale = 1.0
        post = False
        if s and s[0] == 0x2E:
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and s[i] in _DIGITS:
                if not overflow:
                    if f > _MAX // 10:
                        overflow = True
                    else:
                        y = f * 10 + (s[i] - 0x30)
                        if y > 1 << 63:
                            overflow = True
                        else:
                            f = y
                            scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise _invalid(orig)
        # unit
        i = 0
        while i < len(s) and not (s[i] == 0x2E or s[i] in _DIGITS):
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + time_quote(orig))
        unit_text = s[:i]
        s = s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(
                "time: unknown unit " + time_quote(unit_text) + " in duration " + time_quote(orig)
            )
        if v > (1 << 63) // unit:
            raise _invalid(orig)
        v *= unit
        if f > 0:
            # Go computes the fraction in float64, truncating toward zero.
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise _invalid(orig)
        total += v
        if total > 1 << 63:
            raise _invalid(orig)
    if neg:
        return -total
    if total > _MAX:
        raise _invalid(orig)
    return total


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fraction of value / 10**prec without trailing zeros (and
    without the point when it is zero), and the integer part."""
    digits = []
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(chr(0x30 + digit))
        value //= 10
    if printed:
        digits.append(".")
    return "".join(reversed(digits)), value


def format_duration(ns: int) -> str:
    """Go's ``Duration.String()``: ``0s``, ``1.5µs``, ``250ms``, ``1m0s``, ``-2h3m4.5s``."""
    u = -ns if ns < 0 else ns
    sign = "-" if ns < 0 else ""
    if u < _SECOND:
        if u == 0:
            return "0s"
        if u < _MICROSECOND:
            frac, whole = _frac(u, 0)
            unit = "ns"
        elif u < _MILLISECOND:
            frac, whole = _frac(u, 3)
            unit = "µs"
        else:
            frac, whole = _frac(u, 6)
            unit = "ms"
        return f"{sign}{whole}{frac}{unit}"
    frac, whole = _frac(u, 9)
    text = f"{whole % 60}{frac}s"
    minutes = whole // 60
    if minutes > 0:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours > 0:
            text = f"{hours}h{text}"
    return sign + text
