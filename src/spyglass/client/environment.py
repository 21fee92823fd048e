"""Every environment variable the client reads, each a constant with what it sets.

Precedence everywhere: a value given in code or in the config dict, then the variable,
then the default (the one exception is ``JAEGER_TAGS``, merged over the config's tags as
jaeger-client-python does). The names are the ones Jaeger clients share across languages,
so an existing deployment's environment keeps working.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

JAEGER_SERVICE_NAME = "JAEGER_SERVICE_NAME"
"""Service name when neither the ``service_name`` argument nor config key is given."""

JAEGER_DISABLED = "JAEGER_DISABLED"
"""``true`` makes the tracer record nothing (spans are still created and propagated)."""

JAEGER_AGENT_HOST = "JAEGER_AGENT_HOST"
"""Host of the agent: UDP span reporting and, unless overridden, the sampling server."""

JAEGER_AGENT_PORT = "JAEGER_AGENT_PORT"
"""UDP port of the agent's Thrift compact endpoint (6831)."""

JAEGER_ENDPOINT = "JAEGER_ENDPOINT"
"""Collector URL, e.g. ``http://host:14268/api/traces``: switches to the HTTP Thrift sender."""

JAEGER_USER = "JAEGER_USER"
"""Basic-auth user for ``JAEGER_ENDPOINT``."""

JAEGER_PASSWORD = "JAEGER_PASSWORD"
"""Basic-auth password for ``JAEGER_ENDPOINT``."""

JAEGER_AUTH_TOKEN = "JAEGER_AUTH_TOKEN"
"""Bearer token for ``JAEGER_ENDPOINT`` (wins over user/password)."""

JAEGER_PROPAGATION = "JAEGER_PROPAGATION"
"""Comma list of propagation formats: ``jaeger``, ``b3``, ``b3single``, ``w3c``, ``baggage``."""

JAEGER_REPORTER_LOG_SPANS = "JAEGER_REPORTER_LOG_SPANS"
"""``true`` also logs every finished span (the ``logging`` config key)."""

JAEGER_REPORTER_MAX_QUEUE_SIZE = "JAEGER_REPORTER_MAX_QUEUE_SIZE"
"""Finished spans the reporter may hold before it drops new ones."""

JAEGER_REPORTER_FLUSH_INTERVAL = "JAEGER_REPORTER_FLUSH_INTERVAL"
"""Seconds (or a Go duration such as ``500ms``) between flushes."""

JAEGER_SAMPLER_TYPE = "JAEGER_SAMPLER_TYPE"
"""``const``, ``probabilistic``, ``ratelimiting`` or ``remote``."""

JAEGER_SAMPLER_PARAM = "JAEGER_SAMPLER_PARAM"
"""The sampler's parameter (decision, probability, traces per second, initial probability)."""

JAEGER_SAMPLING_ENDPOINT = "JAEGER_SAMPLING_ENDPOINT"
"""Full URL of the sampling server, e.g. ``http://agent:5778/sampling``."""

JAEGER_SAMPLER_MANAGER_HOST_PORT = "JAEGER_SAMPLER_MANAGER_HOST_PORT"
"""``host:port`` of the sampling server (older name; ``/sampling`` is appended)."""

JAEGER_SAMPLER_REFRESH_INTERVAL = "JAEGER_SAMPLER_REFRESH_INTERVAL"
"""Seconds (or Go duration) between polls of the sampling server."""

JAEGER_SAMPLER_MAX_OPERATIONS = "JAEGER_SAMPLER_MAX_OPERATIONS"
"""Most operations the per-operation sampler tracks; others use the default probability."""

JAEGER_TAGS = "JAEGER_TAGS"
"""``k1=v1,k2=v2`` process tags; ``${VAR}`` / ``${VAR:default}`` values are expanded."""

JAEGER_TRACEID_128BIT = "JAEGER_TRACEID_128BIT"
"""``true`` generates 128-bit trace IDs."""

ALL = (
    JAEGER_SERVICE_NAME, JAEGER_DISABLED, JAEGER_AGENT_HOST, JAEGER_AGENT_PORT, JAEGER_ENDPOINT,
    JAEGER_USER, JAEGER_PASSWORD, JAEGER_AUTH_TOKEN, JAEGER_PROPAGATION, JAEGER_REPORTER_LOG_SPANS,
    JAEGER_REPORTER_MAX_QUEUE_SIZE, JAEGER_REPORTER_FLUSH_INTERVAL, JAEGER_SAMPLER_TYPE,
    JAEGER_SAMPLER_PARAM, JAEGER_SAMPLING_ENDPOINT, JAEGER_SAMPLER_MANAGER_HOST_PORT,
    JAEGER_SAMPLER_REFRESH_INTERVAL, JAEGER_SAMPLER_MAX_OPERATIONS, JAEGER_TAGS, JAEGER_TRACEID_128BIT,
)


def get(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, or None when unset or blank."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def parse_bool(value: object, default: bool = False) -> bool:
    """jaeger-client's ``get_boolean``: bools as is, ``true``/``1``/``yes``/``on`` strings."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on", "t", "y"):
        return True
    if text in ("false", "0", "no", "off", "f", "n", ""):
        return False
    return default


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(value: object) -> float:
    """Seconds from a number, a numeric string, or a Go duration (``500ms``, ``1m30s``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    if not text:
        raise ValueError("empty duration")
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            number += c
            i += 1
            continue
        unit = ""
        while i < len(text) and not (text[i].isdigit() or text[i] == "."):
            unit += text[i]
            i += 1
        if not number or unit not in _UNITS:
            raise ValueError(f"invalid duration {text!r}")
        total += float(number) * _UNITS[unit]
        number = ""
    if number:
        raise ValueError(f"invalid duration {text!r}: missing unit")
    return total


def parse_tags(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``k1=v1,k2=v2`` into a dict; values ``${VAR}`` / ``${VAR:default}`` come from the
    environment (the convention of Jaeger's Go and Java clients). Malformed pairs are skipped."""
    env = os.environ if environ is None else environ
    tags: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            continue
        if value.startswith("${") and value.endswith("}"):
            name, _, default = value[2:-1].partition(":")
            value = env.get(name.strip(), default)
        tags[key] = value
    return tags
