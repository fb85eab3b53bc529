"""bench_ann.py's out-of-core rows (``--big``): IVF-PQ at sizes whose float32 vectors do not fit in RAM, built and
served as the indexer and the server do, with the vectors never all in memory.

For ``n`` vectors: bench_ann's clustered vectors (the same for the same n) are generated a chunk at a time straight
into the float16 re-ranking store (``rerank.f16.npy``: the vectors the server re-ranks from); IVF-PQ with
indexer/index_dir/ann.py's parameters for n is trained on a sample of them and added a chunk at a time
(``ann.build_ivfpq_codes``); the ground truth is the exact top 10 by a chunked brute-force product over the float16
file. Build time is the training and adding (not the generation). Then a fresh process opens the folder with
``reader.open_search``, IndexReader's own code (search index read into memory, store memory-mapped), and searches
one query at a time through ``VectorSearch.search_batch``: once with the store out of the page cache (as after a
reboot: every candidate row a disk read) and again warm, reporting p50, p99, recall@10 and its memory (VmRSS,
its anonymous and file-backed parts, VmHWM). File-backed resident pages are the store's page cache mapped into the
process: the kernel reclaims them under pressure; the anonymous part is the server's own. Chunks are read with
plain reads (not a memory map) and dropped from the page cache after use, so the bench itself stays near 2 GB.

With filters (bench_ann's ``--filters``: its random video facets for n), the serving process then searches again,
each query unfiltered and under each filter in turn (as bench_ann's filtered rows: the allowed ids go to
``search_batch``, whose IVF-PQ candidates are re-ranked from the mapped float16 store), against each filter's exact
top 10 among its allowed vectors from the same chunked pass as the ground truth, twice: the first pass reads the
rows of the filtered candidates that the unfiltered passes left out of the page cache (``cold_p50_ms``), the second
is warm (``p50_ms``, as the unfiltered rows). Index label ``ivf-mm``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ann_tables import filtered_row, timed_search  # noqa: E402
from indexer.index_dir import ann  # noqa: E402
from indexer.index_dir.layout import RERANK, SEARCH  # noqa: E402
from indexer.index_dir.rerank import write_rerank_chunks  # noqa: E402

READ_ROWS = 131_072  # rows read at a time for the ground truth (256 MB of float32 at 512 dimensions)


def clustered_chunks(n: int, dim: int, clusters: int, seed: int, rows: int = 100_000):
    """bench_ann.clustered's vectors, ``rows`` at a time (the same random stream: the same vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        chunk = (centres[rng.integers(0, clusters, stop - start)] + 0.6 * rng.normal(size=(stop - start, dim))).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        yield chunk


class StoreRows:
    """The rows of a float16 .npy read with plain reads (a memory map would keep them resident in this process)."""

    def __init__(self, path: Path):
        header = np.load(path, mmap_mode="r")
        self.path, self.shape, self.offset = path, header.shape, header.offset
        del header

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.shape[0])
            return self._read(start, stop)
        row_bytes = 2 * self.shape[1]  # scattered rows (a training sample): one read each, no read-ahead
        with open(self.path, "rb", buffering=0) as f:
            data = b"".join(os.pread(f.fileno(), row_bytes, self.offset + row_bytes * int(row)) for row in np.asarray(key))
        self._drop(0, 0)
        return np.frombuffer(data, dtype="<f2").reshape(-1, self.shape[1]).astype(np.float32)

    def _read(self, start: int, stop: int) -> np.ndarray:
        row_bytes = 2 * self.shape[1]
        with open(self.path, "rb") as f:
            f.seek(self.offset + row_bytes * start)
            rows = np.fromfile(f, dtype="<f2", count=(stop - start) * self.shape[1]).reshape(-1, self.shape[1])
        self._drop(self.offset + row_bytes * start, row_bytes * (stop - start))
        return rows.astype(np.float32)

    def _drop(self, offset: int, length: int) -> None:
        """Out of the page cache again: the machine is shared, and the serving process must start cold."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def exact_top(rows: StoreRows, queries: np.ndarray, k: int = 11, allowed=()) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, rows) of each query's exact top ``k`` over every stored vector, then over each of ``allowed`` (sorted
    row numbers) in turn, all in one pass a chunk at a time."""
    masks = [None]
    for ids in allowed:
        mask = np.zeros(len(rows), bool)
        mask[ids] = True
        masks.append(torch.from_numpy(mask))
    best = [(torch.full((len(queries), 0), -torch.inf), torch.zeros((len(queries), 0), dtype=torch.int64)) for _ in masks]
    q = torch.from_numpy(queries)
    for start in range(0, len(rows), READ_ROWS):
        scores = q @ torch.from_numpy(rows[start : start + READ_ROWS]).T
        at = torch.arange(start, start + scores.shape[1]).expand(len(queries), -1)
        for i, mask in enumerate(masks):
            picked = scores if mask is None else scores.masked_fill(~mask[start : start + scores.shape[1]], -torch.inf)
            merged, merged_at = torch.cat([best[i][0], picked], dim=1), torch.cat([best[i][1], at], dim=1)
            top = torch.topk(merged, min(k, merged.shape[1]), dim=1)
            best[i] = (top.values, torch.gather(merged_at, 1, top.indices))
    return [(scores.numpy(), at.numpy()) for scores, at in best]


def bench_disk(args, n: int, folder: Path, filters: tuple[list[str], list[np.ndarray]] = ([], [])) -> dict:
    """One out-of-core row (see the module docstring), with its filtered rows under ``"filtered"`` for ``filters``
    (names, allowed ids: bench_ann.facet_filters); ``folder`` is left holding the index and its store."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    write_rerank_chunks(folder / RERANK, (n, args.dim), clustered_chunks(n, args.dim, max(50, n // 1000), seed=0))
    log(f"n={n}: {n} vectors generated into {folder / RERANK} in {time.perf_counter() - started:.0f} s")
    rows = StoreRows(folder / RERANK)
    picked = np.sort(np.random.default_rng(1).choice(n, args.queries, replace=False))
    queries = rows[picked] + args.query_noise * np.random.default_rng(2).normal(size=(args.queries, args.dim)).astype(np.float32)
    started = time.perf_counter()
    names, allowed = filters
    (truth_scores, truth), *filtered_truth = exact_top(rows, queries, allowed=allowed)
    log(
        f"n={n}: ground truth in {time.perf_counter() - started:.0f} s; mean true score @1 {truth_scores[:, 0].mean():.3f} "
        f"@10 {truth_scores[:, 9].mean():.3f} @11 {truth_scores[:, 10].mean():.3f}"
    )
    params = {**ann.index_params("ivfpq", n, args.dim), "refine": "float16"}  # float16 already from ~524k 512-d vectors
    started = time.perf_counter()
    index = ann.build_ivfpq_codes(rows, np.arange(n, dtype=np.int64), params)
    build_s = time.perf_counter() - started
    import faiss

    faiss.write_index(index, str(folder / SEARCH))
    del index
    log(f"n={n}: IVF-PQ {params} built in {build_s:.0f} s")
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", truth[:, :10])
    (folder / "ann.json").write_text(json.dumps(params))
    (folder / "filters.json").write_text(json.dumps(names))
    np.savez(folder / "filters.npz", *allowed, *[top[:, :10] for _, top in filtered_truth])
    for name in (RERANK, SEARCH):  # the serving process starts with nothing of the index in the page cache
        fd = os.open(folder / name, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    command = [sys.executable, __file__, str(folder), str(args.search_threads)]
    served = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    row = {
        "n": n,
        "index": "ivfpq",
        "params": params,
        "build_s": round(build_s, 1),
        "ram_bytes_per_vector": round((folder / SEARCH).stat().st_size / n, 1),
        "disk_bytes_per_vector": round((folder / RERANK).stat().st_size / n, 1),
        **served,
    }
    log(f"served {row}")
    return row


def serve(folder: Path, threads: int) -> dict:
    """Open ``folder`` as IndexReader does and search its queries one at a time, twice (cold, then warm)."""
    before = memory()
    from indexer.index_dir.ann import set_search_threads
    from indexer.index_dir.reader import open_search
    from models.encoder import native_bfloat16, set_intra_op_threads

    set_search_threads(threads)
    set_intra_op_threads(threads)
    imported = memory()
    started = time.perf_counter()
    params = json.loads((folder / "ann.json").read_text())
    search = open_search(folder, "ivfpq", params, native_bfloat16())
    open_s = time.perf_counter() - started
    opened = memory()
    queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
    passes = []
    for _ in range(2):
        latencies, found = [], []
        for query in queries:
            started = time.perf_counter()
            [(hits, _)] = search.search_batch(query[None], [10], [0], [None])
            latencies.append((time.perf_counter() - started) * 1000)
            found.append({i for i, _ in hits})
        passes.append(latencies)
    recall = float(np.mean([len(f & set(t.tolist())) / 10 for f, t in zip(found, truth)]))
    filtered = filtered_rows(folder, search, queries, truth, params)
    after = memory()
    return {
        "open_s": round(open_s, 2),
        "cold_p50_ms": round(float(np.median(passes[0])), 3),
        "cold_p99_ms": round(float(np.percentile(passes[0], 99)), 3),
        "p50_ms": round(float(np.median(passes[1])), 3),
        "p99_ms": round(float(np.percentile(passes[1], 99)), 3),
        "recall_at_10": round(recall, 4),
        "rss_mb": after["VmRSS"],
        "rss_anon_mb": after["RssAnon"],
        "rss_file_mb": after["RssFile"],
        "hwm_mb": after["VmHWM"],
        "rss_python_mb": before["VmRSS"],
        "rss_imported_mb": imported["VmRSS"],
        "rss_opened_mb": opened["VmRSS"],
        "filtered": filtered,
    }


def filtered_rows(folder: Path, search, queries: np.ndarray, truth: np.ndarray, params: dict) -> list[dict]:
    """The warm searches again, each query unfiltered and under each saved filter in turn (bench_ann's rows)."""
    names = ["none", *json.loads((folder / "filters.json").read_text())]
    if len(names) == 1:
        return []
    saved = np.load(folder / "filters.npz")
    arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    allowed, truth = [None, *arrays[: len(names) - 1]], [truth, *arrays[len(names) - 1 :]]
    for ids in allowed[1:]:
        ids.flags.writeable = False  # as IndexReader.segment_ids gives them
    first = [None] + [timed_search(search, queries[0], ids)[0] for ids in allowed[1:]]
    passes, recalls = [[[] for _ in names] for _ in range(2)], [[] for _ in names]
    for latencies in passes:  # the first reads the filtered candidates' rows the unfiltered passes left unread
        for q, query in enumerate(queries):
            for i, ids in enumerate(allowed):
                ms, found = timed_search(search, query, ids)
                latencies[i].append(ms)
                if latencies is passes[0]:
                    recalls[i].append(len(set(found) & set(truth[i][q].tolist())) / 10)
    cold, warm = passes
    n, unfiltered = search.count, float(np.median(warm[0]))
    rows = []
    for i, name in enumerate(names):
        kept = n if allowed[i] is None else len(allowed[i])
        p50, recall = float(np.median(warm[i])), float(np.mean(recalls[i]))
        row = filtered_row(n, "ivf-mm", params, name, kept, p50, unfiltered, first[i], recall)
        rows.append({**row, "cold_p50_ms": round(float(np.median(cold[i])), 3)})
    return rows


def memory() -> dict[str, int]:
    """This process's VmRSS, RssAnon, RssFile and VmHWM, in MB."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":  # the serving process: ann_disk.py FOLDER THREADS
    print(json.dumps(serve(Path(sys.argv[1]), int(sys.argv[2]))))
