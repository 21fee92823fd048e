"""``--agent.tags``: tags the agent adds to the process of every span it forwards.

Jaeger's syntax: ``key=value`` pairs separated by commas; a value ``${NAME}`` or
``${NAME:default}`` is the environment variable ``NAME`` (the default when it is unset or
empty). Pairs without ``=`` are an error, so a typo stops the agent instead of silently
tagging nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from spyglass.model import KeyValue


def parse_agent_tags(text: str, environ: Mapping[str, str] | None = None) -> list[KeyValue]:
    environ = os.environ if environ is None else environ
    tags: list[KeyValue] = []
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"--agent.tags: {pair!r} is not key=value")
        if value.startswith("${") and value.endswith("}"):
            name, _, default = value[2:-1].partition(":")
            value = environ.get(name.strip(), "") or default
        tags.append(KeyValue(key, value))
    return tags
