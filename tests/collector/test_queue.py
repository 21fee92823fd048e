import threading

import pytest

from spyglass.collector.queue import BoundedSpanQueue, QueueClosed, QueueFull
from spyglass.model import Resource, Span

R = Resource("svc")


def spans(n: int) -> list[Span]:
    return [Span(1, i + 1, "op", 0, 1, R) for i in range(n)]


def test_put_refuses_batch_that_does_not_fit() -> None:
    q = BoundedSpanQueue(5)
    q.put_nowait(spans(3))
    with pytest.raises(QueueFull):
        q.put_nowait(spans(3))
    assert len(q) == 3


def test_oversized_batch_enters_only_an_empty_queue() -> None:
    q = BoundedSpanQueue(2)
    q.put_nowait(spans(5))
    assert len(q) == 5
    with pytest.raises(QueueFull):
        q.put_nowait(spans(1))


def test_get_batch_takes_whole_batches_up_to_max() -> None:
    q = BoundedSpanQueue(100)
    for _ in range(4):
        q.put_nowait(spans(3))
    assert len(q.get_batch(7, 0.1) or []) == 6
    assert len(q.get_batch(100, 0.1) or []) == 6
    assert q.get_batch(100, 0.01) == []


def test_close_drains_then_ends() -> None:
    q = BoundedSpanQueue(10)
    q.put_nowait(spans(2))
    q.close()
    with pytest.raises(QueueClosed):
        q.put_nowait(spans(1))
    assert len(q.get_batch(10, 0.1) or []) == 2
    assert q.get_batch(10, 0.1) is None


def test_get_batch_wakes_on_put() -> None:
    q = BoundedSpanQueue(10)
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get_batch(10, 5)))
    t.start()
    q.put_nowait(spans(1))
    t.join(5)
    assert got and len(got[0]) == 1  # type: ignore[arg-type]


def test_has_room_until_full_then_until_drained_to_the_resume_mark() -> None:
    q = BoundedSpanQueue(100)
    assert q.resume_at == 90
    for _ in range(9):
        q.put_nowait(spans(10))
    assert q.has_room()  # 90 of 100
    with pytest.raises(QueueFull):
        q.put_nowait(spans(20))  # refused for lack of room: receivers now refuse undecoded
    assert not q.has_room()
    q.put_nowait(spans(10))  # a batch that fits still fits (what was decoded is not wasted)
    assert len(q) == 100 and not q.has_room()
    assert len(q.get_batch(5, 0.1) or []) == 10  # 90 left: at the resume mark
    assert q.has_room()
    q.put_nowait(spans(10))
    assert len(q) == 100 and not q.has_room()  # full without a refusal
    q.get_batch(5, 0.1)
    assert q.has_room()
