"""The caller's ``Authorization`` value, kept for the request's duration so that a collector that
passes spans on to a tail-sampling peer (``collector.tailsampling.routing``) sends them with the
credential, and so the tenant, they came with. Only in memory, never logged."""

from __future__ import annotations

import contextvars
from contextvars import ContextVar

_AUTHORIZATION: ContextVar[str | None] = ContextVar("spyglass_forwarded_authorization", default=None)


def bind_authorization(value: str | None) -> contextvars.Token[str | None]:
    return _AUTHORIZATION.set(value)


def unbind_authorization(token: contextvars.Token[str | None]) -> None:
    _AUTHORIZATION.reset(token)


def current_authorization() -> str:
    """The current request's credential (``""`` without one): what a collector worker hands
    its parent with the spans, so the parent's tail-sampling stage forwards it too."""
    return _AUTHORIZATION.get() or ""


def forwarded_metadata() -> tuple[tuple[str, str], ...] | None:
    """gRPC metadata carrying the current request's credential, or None without one."""
    value = _AUTHORIZATION.get()
    return (("authorization", value),) if value else None
