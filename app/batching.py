"""Queries for a server: concurrent ones share one encoder call and one index search, repeated ones hit a cache.

Requests arrive on many threads; one worker thread owns the text encoder and the index searches. When it
is free it takes every request waiting (up to ``max_batch``), embeds the texts that are not cached in one
encoder call, and searches all the vectors with one ``search_batch`` per index generation: a lone query
waits for nothing, and a burst of N costs about one batched forward pass plus one pass over the index's
vectors instead of N contended ones. A request may carry a filter (the segment ids it may find): it still joins
the batch's one search, with its own allowed set. The worker runs torch and FAISS with ``threads`` threads: on a small
machine one, so that no thread pool waits at every barrier for a core that the event loop or the request
threads hold (benchmarks/bench_query.py; a second worker thread searching while the first embeds measured
slower on 2 cores, for the same reason). Exact index scans are the exception (``scan_threads``, by default
every core): they wait on memory, not on each other, and two threads on 2 cores served 1.15x the queries/s.

Concurrent callers come back in a burst after each batch, since their answers go out one by one: the first
would otherwise be embedded alone, at a third of a full batch's cost for an eighth of its work (the ViT-B-32
text tower takes 9.4 ms for 1 query, 27 ms for 8: for one query, reading the weights is the cost), while the
others wait behind it. So the worker expects as many requests as came in during the last batch (its own and
those that queued meanwhile) and, when fewer are waiting, waits for the rest a little (at most half the last
batch's time and ``GATHER_MAX_S``): one caller never waits, 8 closed-loop callers at 100k segments went from
130 to 166 queries/s, p50 58 to 43 ms (benchmarks/bench_query.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from indexer import IndexReader
from indexer.index_dir.ann import set_search_threads
from models import VideoEncoder
from models.encoder import set_intra_op_threads

GATHER_MAX_S = 0.015  # the longest a request waits for the others expected with it
GATHER_FRACTION = 0.5  # ... and at most this part of the last batch's time

Scored = tuple[list[tuple[int, float]], int]  # (segment id, score) hits and how many match in all


@dataclass(eq=False)
class _Request:
    """One caller's query: a text to embed (unless ``vector`` is known) and, with a reader, what to search."""

    text: str | None
    vector: np.ndarray | None
    reader: IndexReader | None = None
    k: int = 0
    offset: int = 0
    min_score: float | None = None
    allowed: np.ndarray | None = None  # the segment ids it may find (a filter); None: all
    future: Future = field(default_factory=Future)


class QueryEncoder:
    """The server's query side: ``encode`` a text, ``search`` a text or ``search_vector`` a vector in a reader."""

    def __init__(
        self,
        encoder: VideoEncoder,
        max_batch: int = 32,
        cache_size: int = 4096,
        threads: int | None = None,
        scan_threads: int | None = None,
    ):
        """``threads``: how many threads torch and FAISS use for a batch (None: leave them as they are);
        ``scan_threads``: how many torch uses for an index search (None: ``threads``)."""
        self.encoder = encoder
        self.threads = threads
        self.scan_threads = scan_threads
        self.max_batch = max_batch
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # How many encoder calls served how many texts, and index searches how many queries (for the benchmark).
        self.batches = self.encoded = self.searches = self.searched = 0
        self._expected, self._last_seconds = 1, 0.0  # requests that came in during the last batch, its time
        self._worker = threading.Thread(target=self._run, name="vidseek-query-encoder", daemon=True)
        self._worker.start()

    def encode(self, text: str, timeout: float | None = 60.0) -> np.ndarray:
        """The unit vector of one query (read-only; shared with the cache)."""
        vector = self._cached(text)
        if vector is not None:
            return vector
        return self._submit(_Request(text, None), timeout)

    def search(
        self,
        reader: IndexReader,
        text: str,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        timeout: float | None = 60.0,
        allowed: np.ndarray | None = None,
    ) -> Scored:
        """``reader.search`` of the words ``text``, batched with the other callers' queries (``allowed``: only
        these segment ids, sorted, e.g. ``reader.segment_ids(kind)``; None: all)."""
        request = _search_request(reader, text, self._cached(text), k, offset, min_score, allowed)
        return self._submit(request, timeout)

    def search_vector(
        self,
        reader: IndexReader,
        vector: np.ndarray,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        timeout: float | None = 60.0,
        allowed: np.ndarray | None = None,
    ) -> Scored:
        """``reader.search`` of an already-embedded query (a picture, an indexed segment), batched likewise."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self.encoder.dim,):
            raise ValueError(f"a query vector must have shape ({self.encoder.dim},), not {vector.shape}")
        return self._submit(_search_request(reader, None, vector, k, offset, min_score, allowed), timeout)

    @property
    def pending(self) -> int:
        """How many requests wait for the worker (approximate: the queue moves on while it is read)."""
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(None)

    def _cached(self, text: str) -> np.ndarray | None:
        with self._cache_lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
            return vector

    def _submit(self, request: _Request, timeout: float | None):
        self._queue.put(request)
        return request.future.result(timeout=timeout)

    # -- the worker thread
    def _run(self) -> None:
        if self.threads is not None:
            set_intra_op_threads(self.threads)
            set_search_threads(self.threads)
        while True:
            batch = self._take()
            if batch is None:
                return
            started = time.monotonic()
            try:
                self._embed(batch)
                self._search([r for r in batch if not r.future.done()])
                self._expected, self._last_seconds = len(batch) + self._queue.qsize(), time.monotonic() - started
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one batch
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)

    def _take(self) -> list[_Request] | None:
        """The next request and up to ``max_batch - 1`` more: those waiting, and while fewer than the last batch
        suggests are, those that come within a short wait (see the module's docstring); None once closed."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        expected = min(self.max_batch, self._expected)
        deadline = time.monotonic() + min(GATHER_MAX_S, GATHER_FRACTION * self._last_seconds)
        while len(batch) < self.max_batch:
            wait = deadline - time.monotonic() if len(batch) < expected else 0.0
            try:
                nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # closed: stop after this batch
                break
            batch.append(nxt)
        return batch

    def _embed(self, batch: list[_Request]) -> None:
        """Give every request its vector: from the cache, else from one encoder call for all the new texts.
        Only a request that has no reader is answered here (with its vector)."""
        missing = [r for r in batch if r.vector is None]
        for r in missing:
            r.vector = self._cached(r.text)
        texts = list(dict.fromkeys(r.text for r in missing if r.vector is None))
        if texts:
            by_text, failed = self._encode_texts(texts)
            for r in missing:
                if r.text in failed:
                    r.future.set_exception(failed[r.text])
                elif r.vector is None:
                    r.vector = by_text[r.text]
        for r in batch:
            if r.reader is None and not r.future.done():
                r.future.set_result(r.vector)

    def _encode_texts(self, texts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, BaseException]]:
        """(vector by text, error by text): one encoder call; if it fails, one call per text, so that a text
        the encoder cannot take fails only its own callers."""
        try:
            vectors = self.encoder.encode_text(texts)
        except Exception as exc:  # noqa: BLE001 - handed to the callers whose text caused it
            if len(texts) == 1:
                return {}, {texts[0]: exc}
            by_text, failed = {}, {}
            for text in texts:
                one, error = self._encode_texts([text])
                by_text.update(one)
                failed.update(error)
            return by_text, failed
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
        return by_text, {}

    def _search(self, requests: list[_Request]) -> None:
        """One ``search_batch`` per index generation (a reload may leave requests on two readers)."""
        by_reader: dict[int, list[_Request]] = {}
        for r in requests:
            by_reader.setdefault(id(r.reader), []).append(r)
        if not by_reader:
            return
        if self.scan_threads is not None:
            set_intra_op_threads(self.scan_threads)
        try:
            self._search_groups(by_reader.values())
        finally:
            if self.scan_threads is not None and self.threads is not None:
                set_intra_op_threads(self.threads)

    def _search_groups(self, groups) -> None:
        for group in groups:
            reader = group[0].reader
            # Filtered and unfiltered requests share the one search, a row's allowed set each; a batch with no
            # filter asks as before (so a reader without filters still serves it).
            filters = {"allowed": [r.allowed for r in group]} if any(r.allowed is not None for r in group) else {}
            try:
                answers = reader.search_batch(
                    np.stack([r.vector for r in group]),
                    [r.k for r in group],
                    [r.offset for r in group],
                    [r.min_score for r in group],
                    **filters,
                )
            except Exception as exc:  # noqa: BLE001 - handed to the callers of this reader
                for r in group:
                    r.future.set_exception(exc)
                continue
            self.searches += 1
            self.searched += len(group)
            for r, answer in zip(group, answers):
                r.future.set_result(answer)


def _search_request(
    reader: IndexReader,
    text: str | None,
    vector: np.ndarray | None,
    k: int,
    offset: int,
    min_score: float | None,
    allowed: np.ndarray | None = None,
) -> _Request:
    """A search request, checked on the caller's thread so bad input fails only its own caller."""
    if k < 1 or offset < 0:
        raise ValueError(f"k must be at least 1 and offset at least 0, not k={k}, offset={offset}")
    if min_score is not None and not -1.0 <= min_score <= 1.0:
        raise ValueError(f"min_score is a cosine between -1 and 1, not {min_score}")
    if allowed is not None and (not isinstance(allowed, np.ndarray) or allowed.ndim != 1):
        raise ValueError("allowed must be a 1-d array of segment ids, or None for all")
    score = None if min_score is None else float(min_score)
    return _Request(text, vector, reader, int(k), int(offset), score, allowed)
