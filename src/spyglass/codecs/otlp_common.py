"""Rules shared by the two OTLP wire forms (protobuf and JSON), so they cannot drift apart.

* ``service.name`` is taken out of the resource attributes into ``Resource.service_name``;
  a resource without it gets ``OTLPResourceNoServiceName``, the name Jaeger v2 (through the
  OpenTelemetry collector's Jaeger translator) gives it. On the way out it goes back as the
  first resource attribute.
* A link's ``opentracing.ref_type`` attribute (``child_of`` / ``follows_from``) becomes its
  ``RefType`` and is removed; a link without it is FOLLOWS_FROM. On the way out only
  CHILD_OF is written (as the first link attribute), as Jaeger v2 does.
* A span whose trace or span ID is all zeros or has the wrong length, or whose parent or
  link IDs have the wrong length, is rejected alone; the rest of the request is kept and the
  client is told through OTLP's partial success.
* ``encode`` groups spans by resource, then by scope. Spans decoded from one request share
  their ``Resource`` object, so identity is tried first; equal-valued copies (storage
  hands out clones) are merged too, so a trace read back has one ResourceSpans per process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from spyglass.model import EMPTY_SCOPE, KeyValue, RefType, Resource, Scope, Span, attr_as_string

SERVICE_NAME_KEY = "service.name"
NO_SERVICE_NAME = "OTLPResourceNoServiceName"
REF_TYPE_KEY = "opentracing.ref_type"
REF_TYPE_CHILD_OF = "child_of"
REF_TYPE_FOLLOWS_FROM = "follows_from"


class InvalidSpan(Exception):
    """One span cannot be accepted (bad ID); the others in the request still can."""


def resource_from_attributes(attributes: list[KeyValue], dropped: int, schema_url: str) -> Resource:
    """A model resource from OTLP resource attributes (``service.name`` moved out)."""
    service = NO_SERVICE_NAME
    for i, kv in enumerate(attributes):
        if kv.key == SERVICE_NAME_KEY:
            service = attr_as_string(kv.value)
            attributes = attributes[:i] + attributes[i + 1 :]
            break
    return Resource(service, attributes, dropped, schema_url)


def resource_attributes(resource: Resource) -> list[KeyValue]:
    """The OTLP resource attributes of a model resource, ``service.name`` first."""
    return [KeyValue(SERVICE_NAME_KEY, resource.service_name), *resource.attributes]


def make_scope(name: str, version: str, attributes: list[KeyValue], dropped: int, schema_url: str) -> Scope:
    """A model scope; the shared ``EMPTY_SCOPE`` when everything is empty."""
    if not (name or version or attributes or dropped or schema_url):
        return EMPTY_SCOPE
    return Scope(name, version, attributes, dropped, schema_url)


def link_ref_type(attributes: list[KeyValue]) -> tuple[RefType, list[KeyValue]]:
    """The link's reference type and its attributes without ``opentracing.ref_type``."""
    for i, kv in enumerate(attributes):
        if kv.key == REF_TYPE_KEY:
            rest = attributes[:i] + attributes[i + 1 :]
            if kv.value == REF_TYPE_CHILD_OF:
                return RefType.CHILD_OF, rest
            if kv.value == REF_TYPE_FOLLOWS_FROM:
                return RefType.FOLLOWS_FROM, rest
            return RefType.FOLLOWS_FROM, attributes
    return RefType.FOLLOWS_FROM, attributes


def _value_key(items: Iterable[KeyValue]) -> str:
    return repr(list(items))


def group_spans(spans: Iterable[Span]) -> list[tuple[Resource, list[tuple[Scope, list[Span]]]]]:
    """Spans grouped by resource, then by scope, in order of first appearance."""
    resource_keys: dict[int, object] = {}
    scope_keys: dict[int, object] = {}
    groups: dict[object, tuple[Resource, dict[object, tuple[Scope, list[Span]]]]] = {}
    for span in spans:
        r = span.resource
        rk = resource_keys.get(id(r))
        if rk is None:
            rk = resource_keys[id(r)] = (r.service_name, r.dropped_attributes_count, r.schema_url, _value_key(r.attributes))
        s = span.scope
        sk = scope_keys.get(id(s))
        if sk is None:
            sk = scope_keys[id(s)] = (
                s.name,
                s.version,
                s.dropped_attributes_count,
                s.schema_url,
                _value_key(s.attributes) if s.attributes else "",
            )
        group = groups.get(rk)
        if group is None:
            group = groups[rk] = (r, {})
        scopes = group[1]
        entry = scopes.get(sk)
        if entry is None:
            entry = scopes[sk] = (s, [])
        entry[1].append(span)
    return [(r, list(scopes.values())) for r, scopes in groups.values()]


def partial_message(rejected: int, first_error: str) -> str:
    """The text OTLP's partial success carries when spans were rejected."""
    return f"{rejected} span(s) rejected: {first_error}" if rejected else ""


__all__: Sequence[str] = [
    "NO_SERVICE_NAME",
    "REF_TYPE_KEY",
    "SERVICE_NAME_KEY",
    "InvalidSpan",
    "group_spans",
    "link_ref_type",
    "make_scope",
    "partial_message",
    "resource_attributes",
    "resource_from_attributes",
]
