"""Credentials scrubbed from text before it reaches a log.

Spyglass never logs a header value on purpose, but some text comes from elsewhere: aiohttp's parser
quotes the offending header line of a malformed request, a library may put a request in an error.
``redact`` masks what follows ``Authorization:``, ``Bearer``, ``Basic`` and cookie or password
fields; ``RedactingFilter`` applies it to every record of the handlers it is added to (the CLI adds it
to the root logger's), so no message or argument carries a credential out.
"""

from __future__ import annotations

import logging
import re

MASK = "[REDACTED]"
_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*)(?:(?:bearer|basic)\s+)?[^\s,;'\"\\]+"),
    re.compile(r"(?i)\b(bearer\s+|basic\s+)[A-Za-z0-9\-._~+/=%]{6,}"),
    re.compile(r"(?i)((?:spyglass_session|password|passwd|secret|token)['\"]?\s*[:=]\s*['\"]?)[^\s&,;'\"\\]+"),
    re.compile(r"\b(eyJ)[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # a JWT anywhere
]


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK if m.lastindex else MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged) through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
