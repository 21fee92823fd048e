"""Go's ``strconv`` number and bool parsing, with Go's exact error texts.

Jaeger's query API parses parameters with ``strconv`` and sends the error text back to the
client (``unable to parse param 'start': strconv.ParseInt: parsing "x": invalid syntax``).
A drop-in replacement has to accept exactly what Go accepts and say exactly what Go says.
"""

from __future__ import annotations

import math
import re
import unicodedata


class GoSyntaxError(ValueError):
    """A value Go's strconv rejects; ``str()`` is Go's error text."""


_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(text: str) -> str:
    """``strconv.Quote``: printable characters kept, the rest escaped Go-style."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 or _printable(ch):
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _printable(ch: str) -> bool:
    # Go's IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return unicodedata.category(ch)[0] in "LMNPS"


def _err(func: str, text: str, what: str) -> GoSyntaxError:
    return GoSyntaxError(f"strconv.{func}: parsing {quote(text)}: {what}")


_DEC = re.compile(r"[0-9]+\Z")


def parse_int(text: str, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 10, bits)``."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not _DEC.match(body):
        raise _err("ParseInt", text, "invalid syntax")
    digits = body.lstrip("0") or "0"
    if len(digits) > 20:  # past 64 bits, and past what int() converts (4,300 digits)
        raise _err("ParseInt", text, "value out of range")
    value = -int(digits) if text[:1] == "-" else int(digits)
    limit = 1 << (bits - 1)
    if value >= limit or value < -limit:
        raise _err("ParseInt", text, "value out of range")
    return value


def parse_uint(text: str, base: int = 10, bits: int = 64) -> int:
    """``strconv.ParseUint(text, base, bits)`` for base 10 or 16 (no sign, no prefix)."""
    alphabet = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
    if not text or any(c not in alphabet for c in text):
        raise _err("ParseUint", text, "invalid syntax")
    digits = text.lstrip("0") or "0"
    if len(digits) > 20:  # past 64 bits, and past what int() converts (4,300 digits)
        raise _err("ParseUint", text, "value out of range")
    value = int(digits, base)
    if value >= 1 << bits:
        raise _err("ParseUint", text, "value out of range")
    return value


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _err("ParseBool", text, "invalid syntax")


_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf(?:inity)?|nan))\Z")


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for decimal input (hex floats are not accepted)."""
    if not _FLOAT.match(text):
        raise _err("ParseFloat", text, "invalid syntax")
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise _err("ParseFloat", text, "value out of range")
    return value
