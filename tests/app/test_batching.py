import threading

import numpy as np

from app.batching import QueryEncoder


class CountingEncoder:
    """Wraps the tiny encoder and records each call's batch."""

    def __init__(self, encoder):
        self.inner = encoder
        self.calls = []
        self.gate = threading.Event()

    def encode_text(self, texts, template="{}"):
        self.gate.wait(5)
        self.calls.append(list(texts))
        return self.inner.encode_text(texts, template)


def test_concurrent_queries_share_encoder_calls_and_results_are_exact(tiny_encoder):
    counting = CountingEncoder(tiny_encoder)
    queries = QueryEncoder(counting)
    texts = [f"query number {i}" for i in range(12)] + ["query number 3"]
    results = {}

    def ask(text):
        results.setdefault(text, []).append(queries.encode(text))

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    counting.gate.set()  # the first call was held until every request was queued
    for t in threads:
        t.join()
    assert len(counting.calls) < len(texts)  # batched
    assert sum(len(c) for c in counting.calls) == 12  # each distinct text encoded once
    for text, vectors in results.items():
        for v in vectors:
            np.testing.assert_allclose(v, tiny_encoder.encode_text([text])[0], atol=1e-5)
    calls = len(counting.calls)
    queries.encode("query number 5")  # cached
    assert len(counting.calls) == calls
    queries.close()
