"""``--agent.tags``: tags the agent adds to the process of every span it forwards.

Jaeger's syntax: ``key=value`` pairs separated by commas; a value ``${NAME}`` or
``${NAME:default}`` is the environment variable ``NAME`` (the default when it is unset or
empty). Pairs without ``=`` are an error, so a typo stops the agent instead of silently
tagging nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from spyglass.model import KeyValue, Resource


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


class ProcessTagger:
    """Adds the agent's tags to span resources. Spans of one packet share one resource, so
    each distinct resource is copied once per call, not once per span."""

    def __init__(self, tags: list[KeyValue]) -> None:
        self.tags = tags

    def __call__(self, spans: list) -> list:
        if not self.tags:
            return spans
        copies: dict[int, Resource] = {}
        for span in spans:
            r = span.resource
            tagged = copies.get(id(r))
            if tagged is None:
                tagged = copies[id(r)] = Resource(r.service_name, [*r.attributes, *self.tags],
                                                  r.dropped_attributes_count, r.schema_url)
            span.resource = tagged
        return spans
