"""The active span, kept in a ``contextvars.ContextVar``.

A context variable gives each thread, and each asyncio task, its own "current span":
tasks start with a copy of their creator's context, so two sibling requests handled
concurrently on one event loop never see each other's spans. Threads start with an
*empty* context, which is why a span is not inherited by work handed to a thread pool on
its own; ``wrap`` and ``ContextExecutor`` carry the caller's context over explicitly.

Closing a scope restores the scope that was active when it was opened. It uses ``set``
rather than ``ContextVar.reset``, so closing from another context (a callback, a different
task) never raises into the application; as the OpenTracing API specifies, only the
active scope can be closed, and closing any other is a no-op.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import opentracing

P = ParamSpec("P")
R = TypeVar("R")


class _Scope(opentracing.Scope):
    __slots__ = ("_manager", "_span", "_finish_on_close", "_previous", "_closed")

    def __init__(self, manager: ContextVarsScopeManager, span: opentracing.Span, finish_on_close: bool,
                 previous: _Scope | None) -> None:
        self._manager = manager
        self._span = span
        self._finish_on_close = finish_on_close
        self._previous = previous
        self._closed = False

    def close(self) -> None:
        """Deactivate and (if asked) finish the span. Only the active scope can be closed,
        as the OpenTracing API specifies; closing another one does nothing."""
        var = self._manager._var
        if self._closed or var.get() is not self:
            return
        self._closed = True
        var.set(self._previous)
        if self._finish_on_close:
            self._span.finish()


class ContextVarsScopeManager(opentracing.ScopeManager):
    """OpenTracing scope manager over a context variable (threads and asyncio alike)."""

    def __init__(self) -> None:
        self._var: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
            f"spyglass_active_scope_{id(self):x}", default=None
        )

    def activate(self, span: opentracing.Span, finish_on_close: bool) -> opentracing.Scope:
        var = self._var
        scope = _Scope(self, span, finish_on_close, var.get())
        var.set(scope)
        return scope

    @property
    def active(self) -> opentracing.Scope | None:
        return self._var.get()


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the caller's current context (active span included), for running
    in another thread: ``pool.submit(wrap(work), arg)``. Each call runs in its own copy,
    so the wrapped function may run in several threads at once."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


class ContextExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the submitter's context, so spans started
    by a task are children of the span active where it was submitted. Use it as the
    default executor of an event loop (``loop.set_default_executor``) to make
    ``run_in_executor`` behave the same."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)
