"""zstd compression of chunk blobs, with dictionaries trained from the data itself.

Chunks are small (the spans of one trace from one batch: often 1-10 spans), and small
inputs barely compress on their own (ratio ~1.1). A dictionary trained from the first
chunks of a file brings that to 3-5x, because spans of one deployment repeat the same keys,
service names and values. Every dictionary used by a file is stored in that file's
``dicts`` table, keyed by the zstd dictionary ID that each compressed frame carries in its
header, so a day file can be read on its own, by any process, forever.

zstd objects are not thread-safe: the writer owns its ``ChunkCompressor``; readers get
per-thread decompressors from ``Decompressors``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import zstandard

log = logging.getLogger(__name__)

LEVEL = 3
DICT_SIZE = 32 * 1024
TRAIN_BYTES = 1 << 20  # train once this many raw bytes were sampled
TRAIN_MAX_SAMPLES = 4096
_MAX_TRAIN_ATTEMPTS = 4


class CorruptBlob(ValueError):
    """A blob that does not decompress (corruption, or a dictionary missing from its file)."""


def new_dict_id() -> int:
    """A dictionary ID outside zstd's reserved ranges (below 32768 and from 2**31 up)."""
    return random.randrange(32768, 1 << 31)


class ChunkCompressor:
    """Compresses chunks for one day file and trains that file's dictionary.

    It starts with the dictionary of the previous file, if any (the caller stores a copy in
    the new file), and trains its own from this file's first ``TRAIN_BYTES`` of chunks, so
    each day adapts to the data of that day. ``compress`` returns the blob and, when a new
    dictionary was just trained, ``(dict_id, dict_bytes)`` that the caller must store in the
    same transaction as the blob.
    """

    def __init__(self, dictionary: tuple[int, bytes] | None = None, *, train: bool = True) -> None:
        self.dictionary = dictionary
        self._compressor = self._make(dictionary)
        self._samples: list[bytes] | None = [] if train else None
        self._sampled = 0
        self._train_at = TRAIN_BYTES
        self._attempts = 0

    @staticmethod
    def _make(dictionary: tuple[int, bytes] | None) -> zstandard.ZstdCompressor:
        if dictionary is None:
            return zstandard.ZstdCompressor(level=LEVEL)
        data = zstandard.ZstdCompressionDict(dictionary[1], dict_type=zstandard.DICT_TYPE_FULLDICT)
        return zstandard.ZstdCompressor(level=LEVEL, dict_data=data)

    def compress(self, raw: bytes) -> tuple[bytes, tuple[int, bytes] | None]:
        trained = None
        samples = self._samples
        if samples is not None:
            samples.append(raw)
            self._sampled += len(raw)
            if self._sampled >= self._train_at or len(samples) >= TRAIN_MAX_SAMPLES * self._attempts + TRAIN_MAX_SAMPLES:
                trained = self._train(samples)
        return self._compressor.compress(raw), trained

    def _train(self, samples: list[bytes]) -> tuple[int, bytes] | None:
        self._attempts += 1
        dict_id = new_dict_id()
        try:
            trained = zstandard.train_dictionary(DICT_SIZE, samples, dict_id=dict_id, level=LEVEL)
        except zstandard.ZstdError as exc:
            # Too little or too uniform data: sample twice as much and try again, a few times.
            log.debug("zstd dictionary training failed (%s); attempt %d", exc, self._attempts)
            if self._attempts >= _MAX_TRAIN_ATTEMPTS:
                self._samples = None
            self._train_at = self._sampled * 2
            return None
        self._samples = None
        self.dictionary = (dict_id, trained.as_bytes())
        self._compressor = self._make(self.dictionary)
        return self.dictionary


class Decompressors:
    """Per-thread zstd decompressors for one day file, by dictionary ID.

    ``load`` fetches a dictionary's bytes from the file (called the first time a frame names
    a dictionary this thread has not seen).
    """

    def __init__(self, load: Callable[[int], bytes | None]) -> None:
        self._load = load
        self._local = threading.local()

    def _for(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache: dict[int, zstandard.ZstdDecompressor] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        d = cache.get(dict_id)
        if d is None:
            if dict_id == 0:
                d = zstandard.ZstdDecompressor()
            else:
                data = self._load(dict_id)
                if data is None:
                    raise CorruptBlob(f"zstd dictionary {dict_id} is not in this file")
                d = zstandard.ZstdDecompressor(
                    dict_data=zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT))
            cache[dict_id] = d
        return d

    def decompress(self, blob: bytes) -> bytes:
        try:
            dict_id = zstandard.get_frame_parameters(blob).dict_id
            return self._for(dict_id).decompress(blob)
        except zstandard.ZstdError as exc:
            raise CorruptBlob(f"chunk does not decompress: {exc}") from None
