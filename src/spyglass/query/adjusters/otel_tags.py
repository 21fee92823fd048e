"""Move OpenTelemetry SDK tags from the span to its process (Jaeger's OTelTagAdjuster /
MoveLibraryAttributes).

Some exporters put ``telemetry.sdk.*`` on every span; they describe the process, and the UI
shows them there. A value that disagrees with the process's own stays on the span, with
Jaeger's warning.
"""

from __future__ import annotations

from spyglass.model import KeyValue, Trace

LIBRARY_KEYS = frozenset(
    {
        "telemetry.sdk.language",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "telemetry.distro.name",
        "telemetry.distro.version",
    }
)
WARNING_CONFLICT = "conflicting values between Span and Resource for attribute "


def move_library_tags(trace: Trace) -> None:
    """Adjuster: span attributes in ``LIBRARY_KEYS`` move to the resource."""
    for span in trace.spans:
        if not any(kv.key in LIBRARY_KEYS for kv in span.attributes):
            continue
        resource = span.resource
        kept: list[KeyValue] = []
        moved = False
        for kv in span.attributes:
            if kv.key not in LIBRARY_KEYS:
                kept.append(kv)
                continue
            existing = [v for k, v in resource.attributes if k == kv.key]
            if existing:
                if not (isinstance(existing[0], str) and isinstance(kv.value, str) and existing[0] == kv.value):
                    span.warnings.append(WARNING_CONFLICT + kv.key)
                    kept.append(kv)
                continue  # the same value is already on the resource
            resource.attributes.append(kv)
            moved = True
        span.attributes = kept
        if moved:
            resource.attributes.sort(key=lambda kv: kv.key)
