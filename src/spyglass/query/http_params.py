"""Query parameters of the ``/api`` (v1 UI) and ``/api/v3`` HTTP APIs, parsed as Jaeger
parses them (``query_parser.go``, ``apiv3/query_parser.go``).

What is accepted, the defaults, the order of checks and the error texts all follow Jaeger,
because clients show those texts and scripts match on them (spec A.2, B.2). Every failure
is a ``ParamError`` whose text is what goes into the error answer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multidict import MultiMapping

from spyglass.gocompat.godur import DurationError, parse_duration
from spyglass.query.gojsonmap import GoJSONError, unmarshal_string_map
from spyglass.query.gostrconv import GoSyntaxError, parse_bool, parse_float, parse_int, parse_uint
from spyglass.gocompat.gotime import TimeParseError, parse_rfc3339_nano
from spyglass.storage.api import TraceQuery

if TYPE_CHECKING:
    from spyglass.analytics.series import MetricsRequest

DEFAULT_QUERY_LIMIT = 100
DEFAULT_TRACE_LOOKBACK_NS = 48 * 3600 * 1_000_000_000
DEFAULT_DEPENDENCY_LOOKBACK_NS = 24 * 3600 * 1_000_000_000
MICROSECOND_NS = 1_000
MILLISECOND_NS = 1_000_000

ERR_SERVICE_REQUIRED = "parameter 'service' is required"
ERR_MAX_DURATION = "'maxDuration' should be greater than 'minDuration'"


class ParamError(ValueError):
    """A parameter Jaeger would reject with 400; ``str()`` is the client-facing text."""


Query = MultiMapping[str]


def _get(query: Query, name: str) -> str:
    """Go's ``url.Values.Get``: the first value, ``""`` when absent."""
    return query.get(name, "")


def parse_error(param: str, err: Exception) -> ParamError:
    """Jaeger's ``newParseError``: ``unable to parse param '<name>': <error>``."""
    return ParamError(f"unable to parse param '{param}': {err}")


def _wrap_int64(value: int) -> int:
    return ((value + (1 << 63)) % (1 << 64)) - (1 << 63)


def parse_time(query: Query, param: str, unit_ns: int, default_ns: int) -> int:
    """An integer count of ``unit_ns`` since the epoch (Jaeger's ``parseTime``), in ns."""
    text = _get(query, param)
    if text == "":
        return default_ns
    try:
        value = parse_int(text)
    except GoSyntaxError as e:
        raise parse_error(param, e) from None
    return _wrap_int64(value * unit_ns)  # Go multiplies time.Durations in int64


def parse_millis_duration(query: Query, param: str, default_ns: int) -> int:
    """An integer count of milliseconds (Jaeger's ``newDurationUnitsParser``), in ns."""
    text = _get(query, param)
    if text == "":
        return default_ns
    try:
        return _wrap_int64(parse_int(text) * MILLISECOND_NS)
    except GoSyntaxError as e:
        raise parse_error(param, e) from None


def parse_go_duration(query: Query, param: str) -> int:
    """A Go duration string (``100ms``, ``1.5s``), 0 when absent."""
    text = _get(query, param)
    if text == "":
        return 0
    try:
        return parse_duration(text)
    except DurationError as e:
        raise parse_error(param, e) from None


def parse_bool_param(query: Query, param: str) -> bool:
    """``strconv.ParseBool`` of the parameter, false when absent."""
    text = _get(query, param)
    if text == "":
        return False
    try:
        return parse_bool(text)
    except GoSyntaxError as e:
        raise parse_error(param, e) from None


def pretty_print(query: Query) -> bool:
    """``prettyPrint``: any value but ``""`` and ``false`` turns indentation on."""
    value = _get(query, "prettyPrint")
    return value not in ("", "false")


def parse_hex_trace_id(text: str) -> int:
    """Jaeger's ``model.TraceIDFromString``: 1-32 hex characters (up to 16 is a 64-bit ID;
    longer is high then low half). Raises ``ParamError`` with Go's text."""
    if len(text) > 32:
        raise ParamError(f"TraceID cannot be longer than 32 hex characters: {text}")
    try:
        if len(text) > 16:
            split = len(text) - 16
            high = parse_uint(text[:split], 16)
            low = parse_uint(text[split:], 16)
            return (high << 64) | low
        return parse_uint(text, 16)
    except GoSyntaxError as e:
        raise ParamError(str(e)) from None


def parse_path_trace_id(text: str) -> int:
    """A trace ID in a URL path: hex as above, or else base64 of the 16 ID bytes (standard
    or URL alphabet, padded or not), which Jaeger v2.20 accepts as well."""
    try:
        return parse_hex_trace_id(text)
    except ParamError:
        if 0 < len(text) <= 24:
            raw = _base64_id(text)
            if raw is not None:
                return int.from_bytes(raw, "big")
        raise


def _base64_id(text: str) -> bytes | None:
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 16:
            return raw
    return None


def parse_tags(simple: Sequence[str], json_tags: Sequence[str]) -> dict[str, str]:
    """``tag=key:value`` (split at the first colon) then ``tags={"k":"v"}`` (JSON wins)."""
    tags: dict[str, str] = {}
    for tag in simple:
        key, sep, value = tag.partition(":")
        if not sep:
            raise ParamError(f"malformed 'tag' parameter, expecting key:value, received: {tag}")
        tags[key] = value
    for text in json_tags:
        try:
            tags.update(unmarshal_string_map(text))
        except GoJSONError as e:
            raise ParamError(f"malformed 'tags' parameter, cannot unmarshal JSON: {e}") from None
    return tags


@dataclass(slots=True)
class SearchParams:
    """A parsed ``GET /api/traces``: either ``trace_ids`` (then the other filters are
    ignored) or a ``query``. ``explicit_window`` tells whether start/end were given."""

    query: TraceQuery
    trace_ids: list[int] = field(default_factory=list)
    raw: bool = False
    explicit_window: bool = False


def parse_search(query: Query, now_ns: int, allow_cross_service: bool = True) -> SearchParams:
    """``GET /api/traces`` parameters, in Jaeger's order of checks.

    ``allow_cross_service``: a search without ``service`` is accepted when tags are given
    (our extension; Jaeger always requires ``service`` unless ``traceID`` is used).
    """
    service = _get(query, "service")
    operation = _get(query, "operation")
    start = parse_time(query, "start", MICROSECOND_NS, now_ns - DEFAULT_TRACE_LOOKBACK_NS)
    end = parse_time(query, "end", MICROSECOND_NS, now_ns)
    tags = parse_tags(query.getall("tag", []), query.getall("tags", []))
    limit = DEFAULT_QUERY_LIMIT
    limit_text = _get(query, "limit")
    if limit_text != "":
        try:
            limit = parse_int(limit_text, 32)
        except GoSyntaxError as e:
            raise ParamError(str(e)) from None  # Jaeger reports this one without a prefix
    min_duration = parse_go_duration(query, "minDuration")
    max_duration = parse_go_duration(query, "maxDuration")
    trace_ids = []
    for text in query.getall("traceID", []):
        try:
            trace_ids.append(parse_hex_trace_id(text))
        except ParamError as e:
            raise ParamError(f"cannot parse traceID param: {e}") from None
    raw = parse_bool_param(query, "raw")
    if not trace_ids and not service and not (allow_cross_service and tags):
        raise ParamError(ERR_SERVICE_REQUIRED)
    if limit <= 0:
        raise ParamError("invalid parameter: limit must be greater than 0")
    if start > end:
        raise ParamError("invalid parameter: start time must be before end time")
    if min_duration and max_duration and max_duration < min_duration:
        raise ParamError(ERR_MAX_DURATION)
    trace_query = TraceQuery(
        service_name=service,
        operation_name=operation,
        attributes=tags,
        start_time_min_ns=start,
        start_time_max_ns=end,
        duration_min_ns=min_duration,
        duration_max_ns=max_duration,
        num_traces=limit,
    )
    explicit = _get(query, "start") != "" or _get(query, "end") != ""
    return SearchParams(trace_query, trace_ids, raw, explicit)


@dataclass(slots=True)
class TraceParams:
    """``GET /api/traces/{id}`` and ``POST /api/archive/{id}``; times 0 when not given."""

    trace_id: int
    start_ns: int = 0
    end_ns: int = 0
    raw: bool = False


def parse_get_trace(trace_id_text: str, query: Query) -> TraceParams:
    """Path trace ID, then optional ``start``/``end`` (µs) and ``raw``."""
    trace_id = parse_path_trace_id(trace_id_text)
    start = parse_time(query, "start", MICROSECOND_NS, 0) if _get(query, "start") else 0
    end = parse_time(query, "end", MICROSECOND_NS, 0) if _get(query, "end") else 0
    return TraceParams(trace_id, start, end, parse_bool_param(query, "raw"))


def parse_dependencies(query: Query, now_ns: int) -> tuple[int, int]:
    """``endTs`` (ms, default now) and ``lookback`` (ms, default 24h), both in ns."""
    end = parse_time(query, "endTs", MILLISECOND_NS, now_ns)
    lookback = parse_millis_duration(query, "lookback", DEFAULT_DEPENDENCY_LOOKBACK_NS)
    return end, lookback


_METRICS_SPAN_KINDS = frozenset({"unspecified", "internal", "server", "client", "producer", "consumer"})


def parse_metrics(query: Query, now_ns: int, latencies: bool) -> MetricsRequest:
    """``/api/metrics/*`` parameters, validated as Jaeger does, with Jaeger's defaults
    (lookback 1h, step 5s, ratePer 10m, spanKind server)."""
    from spyglass.analytics.series import KIND_BY_PARAM, MetricsRequest

    quantile = 0.0
    if latencies:
        try:
            quantile = parse_float(_get(query, "quantile"))
        except GoSyntaxError as e:
            raise parse_error("quantile", e) from None
    if "service" not in query:
        raise parse_error("service", ValueError("please provide at least one service name"))
    group = parse_bool_param(query, "groupByOperation")
    kinds = [int(KIND_BY_PARAM["server"])]
    if "spanKind" in query:
        kinds = []
        for kind in query.getall("spanKind"):
            if kind not in _METRICS_SPAN_KINDS:
                raise parse_error("spanKind", ValueError(f"unsupported span kind: '{kind}'"))
            kinds.append(int(KIND_BY_PARAM[kind]))
    end = parse_time(query, "endTs", MILLISECOND_NS, now_ns)
    lookback = parse_millis_duration(query, "lookback", 3_600_000 * MILLISECOND_NS)
    step = parse_millis_duration(query, "step", 5_000 * MILLISECOND_NS)
    rate_per = parse_millis_duration(query, "ratePer", 600_000 * MILLISECOND_NS)
    return MetricsRequest(services=list(dict.fromkeys(query.getall("service"))), end_ns=end, lookback_ns=lookback,
                          step_ns=step, rate_per_ns=rate_per, group_by_operation=group, span_kinds=kinds,
                          quantile=quantile)


# -- api_v3 ------------------------------------------------------------------------------


def v3_param(query: Query, canonical: str, deprecated: Sequence[str] = ()) -> tuple[str, str]:
    """The value and the name actually used: the camelCase name first, then the
    deprecated snake_case aliases; an empty value counts as absent."""
    value = _get(query, canonical)
    if value:
        return value, canonical
    for name in deprecated:
        value = _get(query, name)
        if value:
            return value, name
    return "", canonical


def _malformed(name: str, err: Exception) -> ParamError:
    return ParamError(f"malformed parameter {name}: {err}")


def v3_time(query: Query, canonical: str, deprecated: str) -> int | None:
    value, name = v3_param(query, canonical, (deprecated,))
    if not value:
        return None
    try:
        return parse_rfc3339_nano(value)
    except TimeParseError as e:
        raise _malformed(name, e) from None


def v3_bool(query: Query, canonical: str, deprecated: str) -> bool:
    value, name = v3_param(query, canonical, (deprecated,))
    if not value:
        return False
    try:
        return parse_bool(value)
    except GoSyntaxError as e:
        raise _malformed(name, e) from None


@dataclass(slots=True)
class V3GetTrace:
    trace_id: int
    start_ns: int = 0
    end_ns: int = 0
    raw: bool = False


def parse_v3_get_trace(trace_id_text: str, query: Query) -> V3GetTrace:
    """``GET /api/v3/traces/{trace_id}``: the ID (hex or base64), ``startTime``/``endTime``
    (RFC 3339) and ``rawTraces``."""
    try:
        trace_id = parse_path_trace_id(trace_id_text)
    except ParamError as e:
        raise _malformed("trace_id", e) from None
    start = v3_time(query, "startTime", "start_time")
    end = v3_time(query, "endTime", "end_time")
    raw = v3_bool(query, "rawTraces", "raw_traces")
    return V3GetTrace(trace_id, start or 0, end or 0, raw)


@dataclass(slots=True)
class V3Search:
    query: TraceQuery
    raw: bool = False


def parse_v3_search(query: Query) -> V3Search:
    """``GET /api/v3/traces`` and ``/api/v3/trace-summaries`` query parameters."""
    service, _ = v3_param(query, "query.serviceName", ("query.service_name",))
    operation, _ = v3_param(query, "query.operationName", ("query.operation_name",))
    attributes: dict[str, str] = {}
    attrs_text = _get(query, "query.attributes")
    if attrs_text:
        try:
            attributes = unmarshal_string_map(attrs_text)
        except GoJSONError as e:
            raise _malformed("query.attributes", e) from None
    start_min = v3_time(query, "query.startTimeMin", "query.start_time_min")
    start_max = v3_time(query, "query.startTimeMax", "query.start_time_max")
    depth_text, depth_name = v3_param(query, "query.searchDepth", ("query.search_depth", "query.num_traces"))
    depth = 0
    if depth_text:
        try:
            depth = parse_uint(depth_text, 10, 32)
        except GoSyntaxError as e:
            raise _malformed(depth_name, e) from None
    durations = []
    for canonical, deprecated in (("query.durationMin", "query.duration_min"), ("query.durationMax", "query.duration_max")):
        text, name = v3_param(query, canonical, (deprecated,))
        try:
            durations.append(parse_duration(text) if text else 0)
        except DurationError as e:
            raise _malformed(name, e) from None
    raw = v3_bool(query, "query.rawTraces", "query.raw_traces")
    if start_min is None or start_max is None:
        raise ParamError("query.startTimeMin and query.startTimeMax are required")
    if start_min > start_max:
        raise ParamError("query.startTimeMin must be before query.startTimeMax")
    return V3Search(
        TraceQuery(
            service_name=service,
            operation_name=operation,
            attributes=attributes,
            start_time_min_ns=start_min,
            start_time_max_ns=start_max,
            duration_min_ns=durations[0],
            duration_max_ns=durations[1],
            num_traces=depth or DEFAULT_QUERY_LIMIT,
        ),
        raw,
    )


def parse_v3_operations(query: Query) -> tuple[str, str]:
    """``service`` and ``spanKind`` (alias ``span_kind``) of ``/api/v3/operations``."""
    kind, _ = v3_param(query, "spanKind", ("span_kind",))
    return _get(query, "service"), kind
