"""Go's ``json.Unmarshal`` into a ``map[string]string``, with Go's error texts.

Jaeger reads the ``tags`` search parameter (and api_v3's ``query.attributes``) this way and
puts the decoder's error in its 400 answer, e.g. ``malformed 'tags' parameter, cannot
unmarshal JSON: invalid character 'x' looking for beginning of value``. Go checks the
whole text's syntax first (``checkValid``), then decodes; type errors (a number where a
string belongs) are reported for the first offending value in document order.
"""

from __future__ import annotations

import json
import re
from typing import Any


class GoJSONError(ValueError):
    """Input Go's decoder rejects; ``str()`` is Go's message."""


_WS = frozenset(" \t\r\n")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


def _quote_char(c: str) -> str:
    """Go's ``quoteChar``: the offending byte in single quotes, strconv-escaped."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    from spyglass.query.gostrconv import quote

    return "'" + quote(c)[1:-1] + "'"


class _Scanner:
    """A syntax checker following the states (and messages) of Go's ``encoding/json``
    scanner. It walks Latin-1 characters, one per byte, as Go walks bytes."""

    def __init__(self, text: str) -> None:
        self.s = text.encode("utf-8", errors="surrogateescape").decode("latin-1")
        self.i = 0

    def _err(self, context: str) -> GoJSONError:
        if self.i >= len(self.s):
            return GoJSONError("unexpected end of JSON input")
        return GoJSONError(f"invalid character {_quote_char(self.s[self.i])} {context}")

    def _skip_ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in _WS:
            i += 1
        self.i = i

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def check(self) -> None:
        self._skip_ws()
        self._value("looking for beginning of value")
        self._skip_ws()
        if self.i < len(self.s):
            raise self._err("after top-level value")

    def _value(self, context: str) -> None:
        c = self._peek()
        if c == "{":
            self.i += 1
            self._object()
        elif c == "[":
            self.i += 1
            self._array()
        elif c == '"':
            self.i += 1
            self._string()
        elif c == "-" or c in _DIGITS:
            self._number()
        elif c in ("t", "f", "n"):
            self._literal({"t": "true", "f": "false", "n": "null"}[c])
        else:
            raise self._err(context)

    def _object(self) -> None:
        self._skip_ws()
        if self._peek() == "}":
            self.i += 1
            return
        while True:
            if self._peek() != '"':
                raise self._err("looking for beginning of object key string")
            self.i += 1
            self._string()
            self._skip_ws()
            if self._peek() != ":":
                raise self._err("after object key")
            self.i += 1
            self._skip_ws()
            self._value("looking for beginning of value")
            self._skip_ws()
            c = self._peek()
            if c == ",":
                self.i += 1
                self._skip_ws()
                continue
            if c == "}":
                self.i += 1
                return
            raise self._err("after object key:value pair")

    def _array(self) -> None:
        self._skip_ws()
        if self._peek() == "]":
            self.i += 1
            return
        while True:
            self._value("looking for beginning of value")
            self._skip_ws()
            c = self._peek()
            if c == ",":
                self.i += 1
                self._skip_ws()
                continue
            if c == "]":
                self.i += 1
                return
            raise self._err("after array element")

    def _string(self) -> None:
        s = self.s
        while True:
            if self.i >= len(s):
                raise self._err("")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                self.i += 1
                e = self._peek()
                if e in ('"', "\\", "/", "b", "f", "n", "r", "t"):
                    self.i += 1
                elif e == "u":
                    self.i += 1
                    for _ in range(4):
                        if self._peek() not in _HEX or self._peek() == "":
                            raise self._err("in \\u hexadecimal character escape")
                        self.i += 1
                else:
                    raise self._err("in string escape code")
            elif c < " ":
                raise self._err("in string literal")
            else:
                self.i += 1

    def _digits(self) -> int:
        start = self.i
        while self._peek() in _DIGITS and self._peek() != "":
            self.i += 1
        return self.i - start

    def _number(self) -> None:
        if self._peek() == "-":
            self.i += 1
            if not self._peek() or self._peek() not in _DIGITS:
                raise self._err("in numeric literal")
        if self._peek() == "0":
            self.i += 1
        else:
            self._digits()
        if self._peek() == ".":
            self.i += 1
            if self._digits() == 0:
                raise self._err("after decimal point in numeric literal")
        if self._peek() in ("e", "E"):
            self.i += 1
            if self._peek() in ("+", "-"):
                self.i += 1
            if self._digits() == 0:
                raise self._err("in exponent of numeric literal")

    def _literal(self, word: str) -> None:
        for expected in word:
            if self._peek() != expected:
                raise self._err(f"in literal {word} (expecting {_quote_char(expected)})")
            self.i += 1


class _Object(list):
    """A JSON object as its (key, value) pairs in order, duplicates included, as Go sees them."""


def _kind(value: Any) -> str:
    if isinstance(value, _Object):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "array"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_text(text: str) -> str:
    """Go decodes a ``\\ud800`` escape that is not half of a pair as U+FFFD; Python keeps
    the lone surrogate, which no UTF-8 encoder (storage, the JSON answer) accepts."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def unmarshal_string_map(text: str) -> dict[str, str]:
    """``json.Unmarshal([]byte(text), &map[string]string{})``; raises ``GoJSONError``.

    A JSON ``null`` (top level) gives an empty map; a ``null`` value gives ``""``.
    """
    _Scanner(text).check()
    # Numbers are only ever an error here ("cannot unmarshal number"): read them as floats,
    # since int() refuses more than 4,300 digits with a ValueError of its own.
    value = json.loads(text, object_pairs_hook=_Object, parse_int=float)
    if value is None:
        return {}
    if not isinstance(value, _Object):
        raise GoJSONError(f"json: cannot unmarshal {_kind(value)} into Go value of type map[string]string")
    out: dict[str, str] = {}
    first_error: GoJSONError | None = None
    for key, item in value:
        key = _go_text(key)
        if item is None:
            out[key] = ""
        elif isinstance(item, str):
            out[key] = _go_text(item)
        elif first_error is None:
            first_error = GoJSONError(f"json: cannot unmarshal {_kind(item)} into Go value of type string")
    if first_error is not None:
        raise first_error
    return out
