import threading

from spyglass.collector.receivers.offload import decode_payload


async def test_large_payloads_decode_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    def decode(data: bytes) -> tuple[int, int]:
        return len(data), threading.get_ident()

    assert await decode_payload(decode, b"x" * 10, threshold=100) == (10, loop_thread)
    size, thread = await decode_payload(decode, b"x" * 101, threshold=100)
    assert size == 101 and thread != loop_thread
