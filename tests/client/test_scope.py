"""The contextvars scope manager: the OpenTracing scope harness, threads, thread pools
with the explicit helpers, and concurrent asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from opentracing.harness.scope_check import ScopeCompatibilityCheckMixin

from spyglass.client import ConstSampler, ContextExecutor, ContextVarsScopeManager, InMemoryReporter, Tracer, wrap


class TestScopeHarness(ScopeCompatibilityCheckMixin):
    def scope_manager(self):
        return ContextVarsScopeManager()


def tracer() -> Tracer:
    return Tracer("svc", InMemoryReporter(), ConstSampler(True))


def test_threads_do_not_inherit_without_helper():
    t = tracer()
    seen = {}
    with t.start_active_span("main"):
        th = threading.Thread(target=lambda: seen.setdefault("active", t.active_span))
        th.start()
        th.join()
    assert seen["active"] is None


def test_wrap_and_context_executor_carry_the_active_span():
    t = tracer()
    with t.start_active_span("request") as scope:
        with ThreadPoolExecutor(2) as pool:
            plain = pool.submit(lambda: t.start_span("plain").parent_id).result()
            wrapped = pool.submit(wrap(lambda: t.start_span("wrapped").parent_id)).result()
        with ContextExecutor(2) as pool:
            parents = list(pool.map(lambda _: t.start_span("task").parent_id, range(4)))
    assert plain == 0
    assert wrapped == scope.span.span_id
    assert parents == [scope.span.span_id] * 4


def test_scope_in_worker_does_not_leak_back():
    t = tracer()
    with t.start_active_span("request") as scope:
        def work() -> None:
            with t.start_active_span("inner"):
                pass
        with ContextExecutor(1) as pool:
            pool.submit(work).result()
        assert t.active_span is scope.span


async def test_sibling_tasks_are_never_parented_to_each_other():
    t = tracer()
    gate = asyncio.Event()

    async def handler(name: str) -> tuple[int, int, int]:
        with t.start_active_span(name) as scope:
            await gate.wait()  # both tasks hold an active span at the same time
            child = t.start_span(f"{name}.db")
            return scope.span.span_id, scope.span.parent_id, child.parent_id

    with t.start_active_span("parent") as parent:
        tasks = [asyncio.create_task(handler(n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        gate.set()
        (a_id, a_parent, a_child_parent), (b_id, b_parent, b_child_parent) = await asyncio.gather(*tasks)
    assert a_parent == b_parent == parent.span.span_id
    assert a_child_parent == a_id and b_child_parent == b_id
    assert t.active_span is None


async def test_to_thread_carries_context():
    t = tracer()
    with t.start_active_span("req") as scope:
        parent = await asyncio.to_thread(lambda: t.start_span("blocking").parent_id)
    assert parent == scope.span.span_id
