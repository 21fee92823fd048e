import threading

from spyglass.collector.receivers.offload import decode_payload


async def test_large_payloads_decode_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    def decode(data: bytes) -> tuple[int, int]:
        return len(data), threading.get_ident()

    assert await decode_payload(decode, b"x" * 10, threshold=100) == (10, loop_thread)
    size, thread = await decode_payload(decode, b"x" * 101, threshold=100)
    assert size == 101 and thread != loop_thread


async def test_large_payloads_decode_on_ingest_threads_not_the_default_executor() -> None:
    """Query work must not be able to take the threads ingest decodes on (issue 17.3)."""
    names: list[str] = []

    def decode(data: bytes) -> int:
        names.append(threading.current_thread().name)
        return len(data)

    await decode_payload(decode, b"x" * 101, threshold=100)
    assert names and names[0].startswith("spyglass-ingest")
