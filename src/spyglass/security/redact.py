"""Keeping secrets out of the logs.

Why a formatter and not care at each call: secrets reach log lines by routes no call site
controls (a NATS URL with ``user:password@`` in a "not reachable" warning, a header an
unparsable request echoed in aiohttp's error text, a library's exception message in a
traceback). ``RedactingFormatter`` rewrites every formatted line, traceback included, so
what any logger writes goes through ``redact`` once."""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@host -> scheme://***@host
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]+@")
# Authorization: Bearer abc, Proxy-Authorization=..., Cookie: ... (to the end of the value)
_HEADER = re.compile(r"(?i)\b(?P<name>(?:proxy-)?authorization|cookie|set-cookie|x-api-key)(?P<sep>['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+")
# Bearer abc / Basic dXNlcjpw (wherever they appear)
_SCHEME = re.compile(r"\b(?P<name>Bearer|Basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
# password=..., token=... in query strings, flags and key=value text
_KV = re.compile(r"(?i)\b(?P<name>password|passwd|pwd|secret|token|access_token|api[_-]?key|client[_-]?secret|spyglass_session)(?P<sep>['\"]?\s*[=:]\s*)(?P<q>['\"]?)[^\s&,;'\"]+")

# a JWT anywhere (three base64url parts, the first a JSON object: "eyJ")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """``text`` with credentials in URLs, auth headers, bearer/basic tokens and
    ``password=``/``token=`` values and JWTs replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = _JWT.sub(MASK, text)
    text = _SCHEME.sub(lambda m: f"{m['name']} {MASK}", text)
    return _KV.sub(lambda m: f"{m['name']}{m['sep']}{m['q']}{MASK}", text)


class RedactingFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose every line (message, arguments, traceback) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def install(level: str, stream: object) -> None:
    """The process's logging: one handler on ``stream`` at ``level``, lines redacted."""
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
