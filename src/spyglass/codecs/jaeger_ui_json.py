"""The Jaeger UI's JSON (Jaeger's ``uimodel``) <-> ``spyglass.model``, both directions.

This is what ``/api/traces`` answers and what the UI downloads and uploads. Jaeger builds
it from its span model in ``uimodel/converter/v1/json``; the rules kept here (spec A.4):

* A trace is ``{"traceID", "spans", "processes", "warnings"}``. ``traceID`` is the first
  span's ID: 16 hex characters when the high half is 0, else 32.
* Each distinct process (service name and tags) gets one key, ``p1``, ``p2``, ... in order
  of first appearance; spans point to it with ``processID``. ``processes`` is a Go map,
  so its keys are written in Go's sorted order (``p1``, ``p10``, ``p2``).
* ``startTime``, ``duration`` and log ``timestamp`` are microseconds (truncated).
* ``flags`` is left out when 0; ``warnings`` is ``null`` when there are none;
  ``references``, ``tags`` and ``logs`` are always arrays.
* Tag values keep their type: ``int64`` beyond +/-(2^53-1) is written as a decimal string
  so JavaScript does not round it, ``binary`` as standard base64, ``float64`` in Go's
  number form (``GoFloat``; write the result with ``spyglass.codecs.go_json.dumps``).

Which tags a span carries (``span.kind``, ``error``, ``otel.*``, ...) and the parent-first
references come from ``jaeger_common``, shared with every other Jaeger format. Reading goes
through ``jaeger_common.build_span`` the same way.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.go_json import GoFloat
from spyglass.codecs.jaeger_common import (
    JaegerRef,
    build_span,
    jaeger_log_fields,
    jaeger_process_tags,
    jaeger_references,
    jaeger_tags,
)
from spyglass.model import (
    DependencyLink,
    Event,
    KeyValue,
    RefType,
    Resource,
    Span,
    Trace,
    format_span_id,
    format_trace_id,
    parse_span_id,
    parse_trace_id,
)

if TYPE_CHECKING:
    from spyglass.storage.api import Operation

JS_MAX_SAFE_INTEGER = (1 << 53) - 1
_REF_NAMES = {RefType.CHILD_OF: "CHILD_OF", RefType.FOLLOWS_FROM: "FOLLOWS_FROM"}
_REF_TYPES = {"CHILD_OF": RefType.CHILD_OF, "FOLLOWS_FROM": RefType.FOLLOWS_FROM}


# -- model -> UI JSON --------------------------------------------------------------------


def _ui_value(value: Any) -> tuple[str, Any]:
    """The UI type name and JSON value of a Jaeger tag value (see ``jaeger_value``)."""
    cls = value.__class__
    if cls is str:
        return "string", value
    if cls is bool:
        return "bool", value
    if cls is int:
        if -JS_MAX_SAFE_INTEGER <= value <= JS_MAX_SAFE_INTEGER:
            return "int64", value
        return "int64", str(value)
    if cls is float:
        return "float64", GoFloat(value)
    if cls is bytes:
        return "binary", base64.b64encode(value).decode("ascii")
    # Subclasses of the above, then anything else as its string form.
    if isinstance(value, bool):
        return "bool", bool(value)
    if isinstance(value, int):
        return _ui_value(int(value))
    if isinstance(value, float):
        return "float64", GoFloat(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "binary", base64.b64encode(bytes(value)).decode("ascii")
    return "string", "" if value is None else str(value)


def key_values_to_ui(kvs: Iterable[KeyValue]) -> list[dict[str, Any]]:
    """Jaeger tags (values already Jaeger-typed) as UI ``KeyValue`` objects."""
    out: list[dict[str, Any]] = []
    append = out.append
    for key, value in kvs:
        # The common types inline: this loop runs for every tag of every span.
        cls = value.__class__
        if cls is str:
            append({"key": key, "type": "string", "value": value})
        elif cls is int and -JS_MAX_SAFE_INTEGER <= value <= JS_MAX_SAFE_INTEGER:
            append({"key": key, "type": "int64", "value": value})
        else:
            type_name, json_value = _ui_value(value)
            append({"key": key, "type": type_name, "value": json_value})
    return out


def _micros(ns: int) -> int:
    # Go truncates toward zero (time.Duration division).
    return ns // 1000 if ns >= 0 else -((-ns) // 1000)


def _process_key(resource: Resource) -> tuple[Any, ...]:
    # The type name is part of the key: in Python True == 1 == 1.0, in Jaeger they differ.
    tags = jaeger_process_tags(resource)
    return (resource.service_name, tuple((k, _ui_value(v)[0], v) for k, v in tags))


def span_to_ui(span: Span, process_id: str) -> dict[str, Any]:
    """One span as a UI span pointing at ``process_id``."""
    out: dict[str, Any] = {
        "traceID": format_trace_id(span.trace_id),
        "spanID": format_span_id(span.span_id),
    }
    flags = span.flags & 0xFFFFFFFF
    if flags:
        out["flags"] = flags
    out["operationName"] = span.name
    out["references"] = [
        {
            "refType": _REF_NAMES.get(ref.ref_type, "CHILD_OF"),
            "traceID": format_trace_id(ref.trace_id),
            "spanID": format_span_id(ref.span_id),
        }
        for ref in jaeger_references(span)
    ]
    out["startTime"] = _micros(span.start_time_ns)
    out["duration"] = _micros(max(0, span.duration_ns))
    out["tags"] = key_values_to_ui(jaeger_tags(span))
    out["logs"] = [
        {"timestamp": _micros(event.time_ns), "fields": key_values_to_ui(jaeger_log_fields(event))}
        for event in span.events
    ]
    out["processID"] = process_id
    out["warnings"] = list(span.warnings) if span.warnings else None
    return out


def trace_to_ui(trace: Trace) -> dict[str, Any]:
    """One trace as a UI trace."""
    keys: dict[tuple[Any, ...], str] = {}
    processes: dict[str, dict[str, Any]] = {}
    by_identity: dict[int, str] = {}
    spans = []
    for span in trace.spans:
        resource = span.resource
        process_id = by_identity.get(id(resource))
        if process_id is None:
            key = _process_key(resource)
            process_id = keys.get(key)
            if process_id is None:
                process_id = keys[key] = f"p{len(keys) + 1}"
                processes[process_id] = {
                    "serviceName": resource.service_name,
                    "tags": key_values_to_ui(jaeger_process_tags(resource)),
                }
            by_identity[id(resource)] = process_id
        spans.append(span_to_ui(span, process_id))
    return {
        "traceID": format_trace_id(trace.spans[0].trace_id) if trace.spans else "",
        "spans": spans,
        # A Go map: keys come out sorted as strings (p1, p10, p11, p2, ...).
        "processes": {k: processes[k] for k in sorted(processes)},
        "warnings": list(trace.warnings) if trace.warnings else None,
    }


def traces_to_ui(traces: Iterable[Trace]) -> list[dict[str, Any]]:
    """Traces as the ``data`` array of ``/api/traces``."""
    return [trace_to_ui(trace) for trace in traces]


def dependencies_to_ui(links: Iterable[DependencyLink]) -> list[dict[str, Any]]:
    """Dependency links as the UI's ``{"parent", "child", "callCount"}`` objects."""
    return [{"parent": l.parent, "child": l.child, "callCount": l.call_count} for l in links]


def operations_to_ui(operations: Iterable[Operation]) -> list[dict[str, str]]:
    """Operations as the UI's ``{"name", "spanKind"}`` objects."""
    return [{"name": op.name, "spanKind": op.span_kind} for op in operations]


# -- UI JSON -> model --------------------------------------------------------------------


def _fail(where: str, what: str) -> DecodeError:
    return DecodeError(f"invalid Jaeger UI JSON at {where}: {what}")


def _uint(value: Any, where: str) -> int:
    if value.__class__ is not int or value < 0:
        raise _fail(where, "expected a non-negative integer")
    return value


def _int64(value: int, where: str) -> int:
    """Tag integers are int64 (Jaeger's, every backend's): 2^70 could be acknowledged but never stored."""
    if not -(1 << 63) <= value < 1 << 63:
        raise _fail(where, "an int64 tag is out of range")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "expected a string")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, "expected an array")
    return value


def _hex_id(value: Any, where: str, span: bool = False) -> int:
    text = _str(value, where)
    try:
        return parse_span_id(text) if span else parse_trace_id(text)
    except ValueError as e:
        raise _fail(where, str(e)) from None


def _value_from_ui(type_name: Any, value: Any, where: str) -> Any:
    if type_name is None or type_name == "":
        # No type: take the JSON type (files written by hand or by other tools).
        if isinstance(value, (str, bool, float)):
            return value
        if value.__class__ is int:
            return _int64(value, where)
        raise _fail(where, "a value without a type must be a string, bool or number")
    if not isinstance(type_name, str):
        raise _fail(where, "type must be a string")
    kind = type_name.lower()
    if kind == "string":
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        raise _fail(where, "a string tag needs a string value")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise _fail(where, "a bool tag needs true or false")
    if kind == "int64":
        n: int | None = None
        if value.__class__ is int:
            n = value
        elif isinstance(value, str):
            try:
                n = int(value, 10)
            except ValueError:
                pass
        elif isinstance(value, float) and value.is_integer():
            n = int(value)
        if n is None:
            raise _fail(where, "an int64 tag needs an integer")
        return _int64(n, where)
    if kind == "float64":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _fail(where, "a float64 tag needs a number")
    if kind == "binary":
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                pass
        raise _fail(where, "a binary tag needs a base64 string")
    raise _fail(where, f"unknown tag type {type_name!r}")


def _key_values(items: Any, where: str) -> list[KeyValue]:
    out = []
    for i, item in enumerate(_list(items, where)):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise _fail(here, "expected an object")
        key = _str(item.get("key"), here + ".key")
        out.append(KeyValue(key, _value_from_ui(item.get("type"), item.get("value"), here)))
    return out


def _process(obj: Any, where: str) -> Resource:
    if not isinstance(obj, dict):
        raise _fail(where, "expected an object")
    service = obj.get("serviceName", "")
    return Resource(_str(service, where + ".serviceName"), _key_values(obj.get("tags"), where + ".tags"))


def _span_from_ui(obj: Any, where: str, processes: dict[str, Resource]) -> Span:
    if not isinstance(obj, dict):
        raise _fail(where, "expected an object")
    trace_id = _hex_id(obj.get("traceID"), where + ".traceID")
    span_id = _hex_id(obj.get("spanID"), where + ".spanID", span=True)
    if "process" in obj and obj["process"] is not None:
        resource = _process(obj["process"], where + ".process")
    else:
        process_id = _str(obj.get("processID"), where + ".processID")
        resource = processes.get(process_id)
        if resource is None:
            raise _fail(where + ".processID", f"no process {process_id!r} in the trace")
    refs = []
    for i, ref in enumerate(_list(obj.get("references"), where + ".references")):
        here = f"{where}.references[{i}]"
        if not isinstance(ref, dict):
            raise _fail(here, "expected an object")
        ref_type = _REF_TYPES.get(str(ref.get("refType", "CHILD_OF")).upper())
        if ref_type is None:
            raise _fail(here + ".refType", "expected CHILD_OF or FOLLOWS_FROM")
        refs.append(
            JaegerRef(
                ref_type,
                _hex_id(ref.get("traceID"), here + ".traceID"),
                _hex_id(ref.get("spanID"), here + ".spanID", span=True),
            )
        )
    logs = []
    for i, log in enumerate(_list(obj.get("logs"), where + ".logs")):
        here = f"{where}.logs[{i}]"
        if not isinstance(log, dict):
            raise _fail(here, "expected an object")
        ts = _uint(log.get("timestamp", 0), here + ".timestamp")
        logs.append(Event(ts * 1000, attributes=_key_values(log.get("fields"), here + ".fields")))
    parent = 0
    if obj.get("parentSpanID"):
        parent = _hex_id(obj["parentSpanID"], where + ".parentSpanID", span=True)
    warnings = [_str(w, where + ".warnings") for w in _list(obj.get("warnings"), where + ".warnings")]
    flags = _uint(obj.get("flags", 0), where + ".flags")
    if flags > 0xFFFF_FFFF:  # uint32 in Jaeger's model
        raise _fail(where + ".flags", "out of range")
    return build_span(
        trace_id=trace_id,
        span_id=span_id,
        operation_name=_str(obj.get("operationName", ""), where + ".operationName"),
        start_time_ns=_uint(obj.get("startTime", 0), where + ".startTime") * 1000,
        duration_ns=_uint(obj.get("duration", 0), where + ".duration") * 1000,
        resource=resource,
        tags=_key_values(obj.get("tags"), where + ".tags"),
        logs=logs,
        references=refs,
        parent_span_id=parent,
        flags=flags,
        warnings=warnings,
    )


def trace_from_ui(obj: Any, where: str = "trace") -> Trace:
    """One UI trace as a model trace (spans keep the trace IDs they carry)."""
    if not isinstance(obj, dict):
        raise _fail(where, "expected an object")
    raw_processes = obj.get("processes") or {}
    if not isinstance(raw_processes, dict):
        raise _fail(where + ".processes", "expected an object")
    processes = {key: _process(p, f"{where}.processes.{key}") for key, p in raw_processes.items()}
    spans = [
        _span_from_ui(s, f"{where}.spans[{i}]", processes) for i, s in enumerate(_list(obj.get("spans"), where + ".spans"))
    ]
    if spans:
        trace_id = spans[0].trace_id
    elif obj.get("traceID"):
        trace_id = _hex_id(obj["traceID"], where + ".traceID")
    else:
        trace_id = 0
    warnings = [_str(w, where + ".warnings") for w in _list(obj.get("warnings"), where + ".warnings")]
    return Trace(trace_id, spans, warnings)


def traces_from_ui(obj: Any) -> list[Trace]:
    """Traces from UI JSON: the ``/api/traces`` envelope (``{"data": [...]}``), an array
    of traces, or a single trace object (what the UI's "Download" writes)."""
    if isinstance(obj, dict) and "data" in obj and "spans" not in obj:
        obj = obj["data"]
        if obj is None:
            return []
    if isinstance(obj, dict):
        return [trace_from_ui(obj)]
    if isinstance(obj, list):
        return [trace_from_ui(t, f"data[{i}]") for i, t in enumerate(obj)]
    raise _fail("top level", "expected a trace, an array of traces or a {\"data\": [...]} envelope")
