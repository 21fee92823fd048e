"""Tokens of the tag index: each (key, string form of value) pair becomes one short word.

Each chunk row has a document in an FTS5 table (``tags``, contentless, ``detail=none``:
only which chunks contain which words, as compact delta-encoded posting lists). The words
are 32-bit hashes of ``key NUL value`` for every place ``spyglass.storage.matching`` looks
for a tag: span attributes, resource attributes, event attributes, event names (key
``event``), scope attributes and link attributes, plus one word for each service in the
chunk. A search ANDs the words of its pairs to get the candidate chunks that may contain a
matching span; ``span_matches`` then decides. A hash collision only adds a candidate, and a
missing word is impossible for the keys covered, so the index never changes a result.

Keys that ``matching`` also answers from a span's status, kind, trace state or scope
(``SPECIAL_KEYS``) are not looked up in the index: a pair on them is checked by
``span_matches`` only. Keep that set in step with ``spyglass.storage.matching._special``.
"""

from __future__ import annotations

from zlib import crc32

from spyglass.model import KeyValue, Resource, Span, attr_as_string
from spyglass.storage.api import TraceQuery

SPECIAL_KEYS = frozenset({
    "error", "span.kind", "span.status", "otel.status_code", "otel.status_description", "w3c.tracestate",
    "otel.scope.name", "otel.library.name", "otel.scope.version", "otel.library.version",
})
_SERVICE_KEY = "\x00service"
_SEED_LIMIT = 100_000


def _key_seed(key: str) -> int:
    return crc32((key + "\x00").encode("utf-8", "surrogatepass"))


def _hash(key: str, text: str) -> int:
    return crc32(text.encode("utf-8", "surrogatepass"), _key_seed(key))


def word(value: int) -> str:
    """A hash as an index word: ``t`` and 8 hex digits (the ``ascii`` tokenizer keeps it whole)."""
    return "t%08x" % value


def token(key: str, text: str) -> str:
    """The index word for one pair: the CRC-32 of ``key NUL text``."""
    return word(_hash(key, text))


def service_token(service: str) -> str:
    return token(_SERVICE_KEY, service)


_EVENT_SEED = _key_seed("event")


def query_words(query: TraceQuery) -> list[str]:
    """The words every candidate chunk must contain; ``[]`` when the index cannot help."""
    words = [token(k, v) for k, v in query.attributes.items() if k not in SPECIAL_KEYS]
    if words and query.service_name:
        words.append(service_token(query.service_name))
    return words


class Tokenizer:
    """Turns spans into index hashes (``word`` makes them words once per chunk).

    Hashing a value costs about what a cache lookup would (CRC-32 continues from a cached
    per-key seed, so no ``key NUL value`` string is built), so values are not cached; only
    the hashes of a resource, shared by the spans of one batch, are.
    """

    def __init__(self) -> None:
        self._seeds: dict[str, int] = {}
        self._resources: dict[int, tuple[Resource, list[int]]] = {}

    def new_batch(self) -> None:
        """Forget per-batch state (resource objects are only shared within a batch)."""
        self._resources.clear()
        if len(self._seeds) > _SEED_LIMIT:
            self._seeds.clear()

    def _add(self, attributes: list[KeyValue], out: set[int]) -> None:
        seeds = self._seeds
        for key, value in attributes:
            t = type(value)
            if t is str:
                text = value
            elif t is int:
                text = str(value)
            elif t is bool:
                text = "true" if value else "false"
            elif t is float:
                text = format(value, ".10g")
            else:
                text = attr_as_string(value)
            seed = seeds.get(key)
            if seed is None:
                seed = seeds[key] = _key_seed(key)
            out.add(crc32(text.encode("utf-8", "surrogatepass"), seed))

    def span_words(self, span: Span, out: set[int]) -> None:
        """Add the hash of every (key, value) of ``span`` to ``out``."""
        resource = span.resource
        known = self._resources.get(id(resource))
        if known is None or known[0] is not resource:
            hashes: set[int] = {_hash(_SERVICE_KEY, resource.service_name)}
            self._add(resource.attributes, hashes)
            known = self._resources[id(resource)] = (resource, list(hashes))
        out.update(known[1])
        if span.attributes:
            self._add(span.attributes, out)
        for event in span.events:
            if event.attributes:
                self._add(event.attributes, out)
            out.add(crc32(event.name.encode("utf-8", "surrogatepass"), _EVENT_SEED))
        for link in span.links:
            if link.attributes:
                self._add(link.attributes, out)
        if span.scope.attributes:
            self._add(span.scope.attributes, out)


def document(hashes: set[int]) -> str:
    """The FTS document of one chunk."""
    return " ".join(["t%08x" % h for h in hashes])
