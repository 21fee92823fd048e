"""Query-time fix-ups of stored traces (Jaeger's adjusters), one per module.

An adjuster is a callable taking a ``Trace`` and changing it in place; spans handed out by
storage are clones, so this never reaches stored data. Problems an adjuster finds become
span warnings (Jaeger's exact texts), shown by the UI. ``standard_adjusters`` is the list
and order Jaeger's query service applies (spec F.2); ``raw=true`` requests skip them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from spyglass.model import Trace
from spyglass.query.adjusters.clock_skew import ClockSkewAdjuster
from spyglass.query.adjusters.dedupe import dedupe_spans
from spyglass.query.adjusters.ip_tags import normalize_ip_tags
from spyglass.query.adjusters.otel_tags import move_library_tags
from spyglass.query.adjusters.parent_reference import parent_reference_first
from spyglass.query.adjusters.sort import sort_tags_and_log_fields
from spyglass.query.adjusters.span_id_uniquifier import uniquify_span_ids
from spyglass.query.adjusters.span_references import remove_invalid_references

Adjuster = Callable[[Trace], None]


def standard_adjusters(max_clock_skew_ns: int = 0) -> list[Adjuster]:
    """Jaeger's standard sequence; ``max_clock_skew_ns`` 0 leaves clock skew uncorrected
    (with a warning on each span that would have moved), as Jaeger's default does."""
    return [
        uniquify_span_ids,
        sort_tags_and_log_fields,
        dedupe_spans,
        ClockSkewAdjuster(max_clock_skew_ns),
        normalize_ip_tags,
        move_library_tags,
        remove_invalid_references,
        parent_reference_first,
    ]


def apply_adjusters(trace: Trace, adjusters: Sequence[Adjuster]) -> Trace:
    """Run ``adjusters`` over ``trace`` in order and return it."""
    for adjust in adjusters:
        adjust(trace)
    return trace


__all__ = [
    "Adjuster",
    "ClockSkewAdjuster",
    "apply_adjusters",
    "dedupe_spans",
    "move_library_tags",
    "normalize_ip_tags",
    "parent_reference_first",
    "remove_invalid_references",
    "sort_tags_and_log_fields",
    "standard_adjusters",
    "uniquify_span_ids",
]
