"""Query embedding for a server: concurrent queries share one encoder call, repeated ones hit a cache.

Requests arrive on many threads; one worker thread owns the text encoder. When it is free it takes every
query waiting (up to ``max_batch``) and encodes them together, so a lone query waits for nothing and a
burst of N queries costs about one batched forward pass instead of N contended ones.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

from models import VideoEncoder


class QueryEncoder:
    def __init__(self, encoder: VideoEncoder, max_batch: int = 32, cache_size: int = 4096):
        self.encoder = encoder
        self.max_batch = max_batch
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, Future] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="vidseek-query-encoder", daemon=True)
        self._worker.start()
        self.batches = 0  # how many encoder calls served how many queries (for the benchmark)
        self.encoded = 0

    def encode(self, text: str, timeout: float | None = 60.0) -> np.ndarray:
        """The unit vector of one query (read-only; shared with the cache)."""
        with self._cache_lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                return vector
        future: Future = Future()
        self._queue.put((text, future))
        return future.result(timeout=timeout)

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            texts = list(dict.fromkeys(text for text, _ in batch))
            try:
                vectors = self.encoder.encode_text(texts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.encoded += len(texts)
            by_text = {}
            for text, vector in zip(texts, vectors):
                vector.setflags(write=False)
                by_text[text] = vector
            with self._cache_lock:
                for text, vector in by_text.items():
                    self._cache[text] = vector
                    self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            for text, future in batch:
                future.set_result(by_text[text])
