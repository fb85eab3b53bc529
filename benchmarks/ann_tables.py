"""bench_ann.py's printed tables, its projection of a 10M row when none was measured, and a filtered row's
search and fields (in memory: bench_ann.py; out of core: ann_disk.py)."""

from __future__ import annotations

import math
import time


def projected_10m(rows: list[dict]) -> list[dict]:
    """Rows for 10M vectors, projected from the largest measured size (see the module docstring)."""
    largest = max(r["n"] for r in rows)
    scale = 10_000_000 / largest
    growth = {"flat": scale, "hnsw": math.log(10_000_000) / math.log(largest), "ivfpq": math.sqrt(scale)}
    flat_10m = next((r["p50_ms"] * scale for r in rows if r["n"] == largest and r["index"] == "flat"), None)
    projected = []
    for r in [r for r in rows if r["n"] == largest]:
        p50 = r["p50_ms"] * growth[r["index"]]
        projected.append(
            {
                **r,
                "n": 10_000_000,
                "build_s": None,
                "p50_ms": round(p50, 2),
                "p99_ms": None,
                "latency_vs_flat": round(p50 / flat_10m, 3) if flat_10m else None,
                "recall_at_10": None,
                "projected": True,
            }
        )
    return projected


def print_table(rows: list[dict]) -> None:
    def show(v, width: int, fmt: str) -> str:
        return format(v, f">{width}{fmt}") if v is not None else f"{'-':>{width}}"

    head = f"{'n':>10} {'index':<6} {'build s':>8} {'bytes/vec':>10} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10}"
    print(f"\n{head} {'p50/flat':>9}  params")
    for r in rows:
        tag = " (projected)" if r.get("projected") else ""
        params = " ".join(f"{k}={v}" for k, v in r["params"].items()) + (" *" if r["default"] else "")
        print(
            f"{r['n']:>10} {r['index']:<6} {show(r['build_s'], 8, '.2f')} {r['bytes_per_vector']:>10.1f} "
            f"{show(r['p50_ms'], 8, '.3f')} {show(r.get('p99_ms'), 8, '.3f')} {show(r['recall_at_10'], 10, '.3f')} "
            f"{show(r['latency_vs_flat'], 9, '.3f')}  {params}{tag}"
        )


def timed_search(search, query, allowed) -> tuple[float, list[int]]:
    """One ``VectorSearch.search_batch`` of ``query`` for 10 (``allowed``: None, or the ids it may find): ms, ids."""
    started = time.perf_counter()
    [(hits, _)] = search.search_batch(query[None], [10], [0], [None], None if allowed is None else [allowed])
    return (time.perf_counter() - started) * 1000, [i for i, _ in hits]


def filtered_row(n: int, kind: str, params: dict, name: str, kept: int, p50: float, unfiltered: float, first, recall) -> dict:
    """A filtered row's fields, as :func:`print_filtered` reads them (``first``: ms, or None for the unfiltered)."""
    return {
        "n": n,
        "index": kind,
        "params": params,
        "filter": name,
        "allowed": kept,
        "kept_fraction": round(kept / n, 5),
        "p50_ms": round(p50, 3),
        "first_ms": None if first is None else round(first, 3),
        "latency_vs_unfiltered": round(p50 / unfiltered, 3),
        "recall_at_10": round(recall, 4),
    }


def print_filtered(rows: list[dict]) -> None:
    """The filtered rows; ``<<`` marks a recall@10 under 0.95."""
    head = f"{'n':>10} {'index':<6} {'kept %':>7} {'allowed':>8} {'p50 ms':>8} {'p50/unf':>8} {'first ms':>9}"
    print(f"\n{head} {'cold p50':>9} {'recall@10':>10}  filter")
    for r in rows:
        first = format(r["first_ms"], ">9.2f") if r["first_ms"] is not None else f"{'-':>9}"
        cold = format(r["cold_p50_ms"], ">9.2f") if "cold_p50_ms" in r else f"{'-':>9}"  # out-of-core rows only
        miss = "  << recall < 0.95" if r["recall_at_10"] < 0.95 else ""
        print(
            f"{r['n']:>10} {r['index']:<6} {100 * r['kept_fraction']:>7.2f} {r['allowed']:>8} {r['p50_ms']:>8.3f} "
            f"{r['latency_vs_unfiltered']:>8.2f} {first} {cold} {r['recall_at_10']:>10.3f}  {r['filter']}{miss}"
        )


def print_disk_table(rows: list[dict]) -> None:
    print(
        f"\n{'n':>10} {'index':<6} {'build s':>8} {'RAM B/vec':>10} {'disk B/vec':>10} {'RSS MB':>7} {'anon MB':>8} "
        f"{'file MB':>8} {'HWM MB':>7} {'cold p50':>9} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10}  params"
    )
    for r in rows:
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        print(
            f"{r['n']:>10} {r['index']:<6} {r['build_s']:>8.1f} {r['ram_bytes_per_vector']:>10.1f} "
            f"{r['disk_bytes_per_vector']:>10.1f} {r['rss_mb']:>7} {r['rss_anon_mb']:>8} {r['rss_file_mb']:>8} "
            f"{r['hwm_mb']:>7} {r['cold_p50_ms']:>9.2f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
            f"{r['recall_at_10']:>10.3f}  {params}"
        )
