"""Large JSON answers written a piece at a time, byte-for-byte what one ``go_json.dumps``
of the whole answer would be.

A search answer holds up to ``--query.max-spans-per-response`` spans; rendered in one go it
would exist three times over (the model, the dict tree, the JSON text). Instead the answer's
envelope is rendered once with a marker in place of its list, split around the marker,
and the list's items are rendered one trace at a time (on the query's render pool) and
written to an ``aiohttp.web.StreamResponse`` between the two halves. With indentation each
item is re-indented to the marker's depth, so pretty answers match ``MarshalIndent`` too.
Small answers (``STREAM_MIN_SPANS``) are still sent whole with a ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from spyglass.codecs import go_json

T = TypeVar("T")

STREAM_MIN_SPANS = 5_000
_MARK = "\x01spyglass-stream-item\x01"
_MARK_JSON = go_json.dumps(_MARK)

Offload = Callable[..., Awaitable[Any]]


def split_envelope(envelope: Callable[[list[Any]], Any], indent: str) -> tuple[bytes, bytes, bytes]:
    """(text before the list's first item, text after its last, the items' separator)."""
    text = go_json.dumps(envelope([_MARK]), indent)
    at = text.index(_MARK_JSON)
    head, tail = text[:at], text[at + len(_MARK_JSON):]
    if not indent:
        return head, tail, b","
    item_indent = head[head.rindex(b"\n") + 1:]
    return head, tail, b",\n" + item_indent


def render_items(items: Sequence[Any], indent: str, item_indent: bytes) -> bytes:
    """``items`` as they appear inside the list: separated and indented."""
    sep = b",\n" + item_indent if indent else b","
    parts = []
    for item in items:
        text = go_json.dumps(item, indent)
        if indent:
            text = text.replace(b"\n", b"\n" + item_indent)
        parts.append(text)
    return sep.join(parts)


async def stream_list(
    request: web.Request,
    envelope: Callable[[list[Any]], Any],
    groups: Sequence[T],
    to_items: Callable[[T], list[Any]],
    offload: Offload,
    indent: str = "",
) -> web.StreamResponse:
    """Write ``envelope(items)`` where ``items`` is every ``to_items(group)`` in order;
    each group is converted and encoded in ``offload`` and written before the next."""
    head, tail, sep = split_envelope(envelope, indent)
    item_indent = sep[2:] if indent else b""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    first = True
    try:
        for group in groups:
            text = await offload(lambda g=group: render_items(to_items(g), indent, item_indent))
            if not text:
                continue
            await response.write((head if first else sep) + text)
            first = False
        if first:  # every group was empty: the answer is the empty list
            await response.write(go_json.dumps(envelope([]), indent))
        else:
            await response.write(tail)
        await response.write_eof()
    except ConnectionError:  # the client went away mid-answer: nothing left to do
        pass
    return response
