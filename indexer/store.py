"""The index dir: FAISS vectors + SQL catalog + manifest + posters, staged aside and published atomically.

Layout::

    INDEX_DIR/
      CURRENT                 name of the published generation (replaced atomically)
      generations/<gen>/      manifest.json · vectors.faiss · catalog.db (when the catalog is SQLite)
      generations/.staging-*  a build in progress (deleted when a build finds it stale)
      thumbs/<segment_id>.jpg posters, shared by generations (segment ids are never reused)
      .lock                   held by the one running build

A build copies the current generation into a staging folder, changes it, and publishes it by writing
its files, fsyncing, renaming the folder and then replacing CURRENT. Readers only ever open a
published generation, so a crash at any point leaves the previous index serving.

The read side (:class:`IndexReader`) is all the server uses. It hands out a video's file only through
:meth:`IndexReader.open_video_file`, which checks that the file is inside the library and is still the one
that was indexed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
import torch
from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from indexer.ann import build_search_index, choose_index_type, index_params, tune_for_search
from indexer.catalog import (
    VIDEO_FAILED,
    VIDEO_INDEXED,
    CatalogError,
    Segment,
    Video,
    catalog_location,
    catalog_revision,
    check_catalog_revision,
    connect,
    describe_url,
    int64,
    sqlite_url,
    upgrade_catalog,
)
from indexer.errors import (  # noqa: F401 - the index's exceptions, imported from here by callers
    ExternalCatalogError,
    IndexBusyError,
    IndexCatalogError,
    IndexerError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriteError,
    VideoFileError,
)
from indexer.video_files import VideoFile, open_indexed_file
from models.encoder import native_bfloat16

MANIFEST_VERSION = 1
CURRENT = "CURRENT"
GENERATIONS = "generations"
THUMBS = "thumbs"
FLAT_BATCH_SCORES = 1 << 24  # a batched flat search scores at most this many (query, vector) pairs at once (64 MB)
# |bfloat16 score - exact score| <= this x |query| x |vector|: each input rounded (2 x 2^-8 relative, to first
# order), float32 accumulation (~D x 2^-24 << 2^-12) and the output rounded to bfloat16 (2^-8).
BF16_SCORE_ERROR = 3 * 2.0**-8 + 2.0**-12
BF16_POOL = 256  # candidates a bfloat16 scan keeps per query for exact re-scoring


@dataclass
class Manifest:
    """What an index was built with: enough to refuse a mismatched model and to rebuild it."""

    model: str
    pretrained: str
    weights_fingerprint: str
    dim: int
    frames: int
    segment_seconds: float
    preprocess: dict
    index_type: str = "flat"  # the search index published: flat, hnsw or ivfpq (see indexer/ann.py)
    metric: str = "inner_product"
    count: int = 0
    videos: int = 0
    failed: int = 0
    library: str = ""
    decoder: str = "pyav"
    catalog: str = "sqlite"
    # An external catalog's dialect, host, port and database (indexer.catalog.catalog_location); {} for SQLite.
    catalog_location: dict = field(default_factory=dict)
    created: str = ""
    format_version: int = MANIFEST_VERSION
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def compatibility_problems(self, other: "Manifest") -> list[str]:
        """How ``other`` (what a build or server asks for) differs from what this index was built with."""
        problems = []
        for name in ("model", "weights_fingerprint", "dim", "frames", "segment_seconds", "preprocess"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                problems.append(f"{name}: index has {mine!r}, asked for {theirs!r}")
        mine, theirs = (m.decoder == "pyav-keyframes" for m in (self, other))  # --fast-seek samples other frames
        if mine != theirs:
            problems.append(f"fast seek: index built {'with' if mine else 'without'} --fast-seek")
        return problems


@dataclass(frozen=True)
class SegmentRecord:
    segment_id: int
    video_id: int
    path: str
    start: float
    end: float

    @property
    def title(self) -> str:
        return Path(self.path).name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def current_generation(root: Path) -> Path | None:
    try:
        name = (root / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    gen = root / GENERATIONS / name
    return gen if (gen / "manifest.json").is_file() else None


def read_manifest(root: Path) -> Manifest | None:
    gen = current_generation(Path(root))
    return Manifest.read(gen / "manifest.json") if gen else None


def new_flat_index(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class IndexWriter:
    """One build: a staging copy of the current generation that is changed, then published or dropped."""

    def __init__(
        self, root: Path, manifest: Manifest, db_url: str | None = None, rebuild: bool = False, index_type: str = "auto"
    ):
        choose_index_type(0, index_type)  # validates the name before anything is touched
        self.index_type = index_type
        self.root = Path(root)
        self.manifest = manifest
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GENERATIONS).mkdir(exist_ok=True)
        (self.root / THUMBS).mkdir(exist_ok=True)
        self._lock = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise IndexBusyError(f"another 'vidseek index build' is running on {self.root}") from None
        self._drop_stale_staging()
        published = current_generation(self.root)
        self._published = published.name if published else None
        previous = None if rebuild else published
        if previous is not None:
            problems = Manifest.read(previous / "manifest.json").compatibility_problems(manifest)
            if problems:
                self.close()
                raise IndexMismatchError(
                    f"the index in {self.root} was built with other settings ({'; '.join(problems)}); "
                    "rebuild it with --rebuild (or use another --index-dir)"
                )
        self.staging = self.root / GENERATIONS / f".staging-{os.getpid()}-{time.time_ns()}"
        self.staging.mkdir()
        self.external_db = db_url is not None
        if self.external_db:
            manifest.catalog = "external"
            manifest.catalog_location = catalog_location(db_url)
            url = db_url
        else:
            if previous is not None and (previous / "catalog.db").is_file():
                shutil.copy2(previous / "catalog.db", self.staging / "catalog.db")
            url = sqlite_url(self.staging / "catalog.db")
        try:
            self.engine = _connect_for_writing(url, self.root)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.close()
            raise
        self.session = Session(self.engine, expire_on_commit=False)
        if rebuild and self.external_db:
            self.session.execute(delete(Segment))
            self.session.execute(delete(Video))
        if previous is not None and (previous / "vectors.faiss").is_file():
            self.index = faiss.read_index(str(previous / "vectors.faiss"))
        else:
            self.index = new_flat_index(manifest.dim)
        self._removed_segments: list[int] = []

    # -- reading the state being changed
    def known_videos(self) -> dict[str, Video]:
        return {v.path: v for v in self.session.scalars(select(Video))}

    # -- changes
    def remove_video(self, video: Video) -> None:
        ids = [s.id for s in video.segments]
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self._removed_segments.extend(ids)
        self.session.delete(video)
        self.session.flush()

    def record_failure(self, path: str, fingerprint: str, size: int, error: str) -> None:
        self.session.add(Video(path=path, fingerprint=fingerprint, size=size, status=VIDEO_FAILED, error=error))
        self.session.flush()

    def record_identity(self, video: Video, device: int | None, inode: int | None) -> None:
        """Record which file an unchanged video is now (a catalog from before revision 0002 lacks it; a file copied
        with its mtime kept is another inode): nothing is re-embedded."""
        video.device, video.inode = _int64_or_none(device), _int64_or_none(inode)  # an UPDATE only where it changed

    def add_video(
        self,
        path: str,
        fingerprint: str,
        size: int,
        info,
        segments: Sequence,
        vectors: np.ndarray,
        posters: Sequence[bytes],
        *,
        device: int | None = None,
        inode: int | None = None,
    ) -> list[int]:
        """Catalogue a decoded video with its segments, add their vectors, write posters; returns the ids.

        ``device`` and ``inode`` (st_dev, st_ino) say which file was read: the server serves that file only."""
        video = Video(
            path=path,
            fingerprint=fingerprint,
            size=size,
            device=_int64_or_none(device),
            inode=_int64_or_none(inode),
            duration=info.duration,
            fps=info.fps,
            width=info.width,
            height=info.height,
            status=VIDEO_INDEXED,
        )
        video.segments = [Segment(ordinal=i, start=s.start, end=s.end) for i, s in enumerate(segments)]
        self.session.add(video)
        self.session.flush()
        ids = [s.id for s in video.segments]
        if ids:
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        for segment_id, poster in zip(ids, posters):
            (self.root / THUMBS / f"{segment_id}.jpg").write_bytes(poster)
        return ids

    # -- ending
    def publish(self) -> Path:
        """Write everything aside, fsync, then make it the current generation in one rename; ends the build."""
        generation = self._publish_staging()
        if self.external_db:
            self.engine.dispose()
        self.close()
        return generation

    def checkpoint(self) -> Path:
        """Publish what is staged so far and go on staging on top of it: a killed build resumes from here."""
        generation = self._publish_staging()
        self.staging = self.root / GENERATIONS / f".staging-{os.getpid()}-{time.time_ns()}"
        self.staging.mkdir()
        if not self.external_db:
            shutil.copy2(generation / "catalog.db", self.staging / "catalog.db")
            self.engine = _connect_for_writing(sqlite_url(self.staging / "catalog.db"), self.root)
        self.session = Session(self.engine, expire_on_commit=False)
        return generation

    def _publish_staging(self) -> Path:
        counts = dict(self.session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
        self.manifest.count = int(self.index.ntotal)
        self.manifest.videos = int(counts.get(VIDEO_INDEXED, 0))
        self.manifest.failed = int(counts.get(VIDEO_FAILED, 0))
        self.manifest.created = datetime.now(UTC).isoformat(timespec="seconds")
        faiss.write_index(self.index, str(self.staging / "vectors.faiss"))
        self.manifest.index_type = choose_index_type(self.index.ntotal, self.index_type)
        self.manifest.extra["ann"] = index_params(self.manifest.index_type, int(self.index.ntotal), self.index.d)
        if self.manifest.index_type != "flat":
            search_index = build_search_index(self.index, self.manifest.index_type)
            faiss.write_index(search_index, str(self.staging / "search.faiss"))
        if not self.external_db:
            self.session.commit()
            self.session.close()
            self.engine.dispose()
        _write_durably(self.staging / "manifest.json", self.manifest.to_json().encode())
        for name in ("vectors.faiss", "search.faiss", "catalog.db"):
            if (self.staging / name).exists():
                with open(self.staging / name, "rb") as f:
                    os.fsync(f.fileno())
        _fsync_dir(self.staging)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        generation = self.root / GENERATIONS / f"g-{stamp}-{time.time_ns() % 10**9:09d}"
        os.rename(self.staging, generation)
        _fsync_dir(self.root / GENERATIONS)
        if self.external_db:
            # The shared catalog becomes visible with the new vectors; see docs on the external catalog.
            self.session.commit()
            self.session.close()
        _write_durably(self.root / CURRENT, generation.name.encode())
        _fsync_dir(self.root)
        self._drop_old_generations(keep={generation.name, self._published})
        self._published = generation.name
        for segment_id in self._removed_segments:
            (self.root / THUMBS / f"{segment_id}.jpg").unlink(missing_ok=True)
        self._removed_segments.clear()
        return generation

    def abort(self) -> None:
        try:
            self.session.rollback()
            self.session.close()
            self.engine.dispose()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.close()

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def _drop_stale_staging(self) -> None:
        for stale in (self.root / GENERATIONS).glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _drop_old_generations(self, keep: set) -> None:
        """Keep the new generation and the one before it (a server may still be reading it); drop the rest,
        including one a crash left published-but-not-current."""
        for generation in (self.root / GENERATIONS).glob("g-*"):
            if generation.name not in keep and generation.is_dir():
                shutil.rmtree(generation, ignore_errors=True)


def _int64_or_none(value: int | None) -> int | None:
    return None if value is None else int64(value)


def _connect_for_writing(url: str, root: Path):
    """The catalog opened by a build, migrated to this code's schema first (see indexer/migrations)."""
    try:
        return connect(url)
    except CatalogError as exc:
        raise IndexCatalogError(f"cannot update the catalog of the index in {root}: {exc}") from exc


def _chunks(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _catalog_url(root: Path, generation: Path, manifest: Manifest, db_url: str | None, readonly: bool) -> str:
    if manifest.catalog == "external":
        if not db_url:
            raise ExternalCatalogError(root, manifest.catalog_location)
        return db_url
    return sqlite_url(generation / "catalog.db", readonly=readonly)


def _upgrade_command(root: Path, manifest: Manifest, db_url: str | None) -> str:
    if manifest.catalog == "external" and db_url:
        return f"vidseek db upgrade --db-url '{describe_url(db_url)}'"
    return f"vidseek db upgrade --index-dir {root}"


def _published(root: Path) -> tuple[Path, Manifest]:
    generation = current_generation(root)
    if generation is None:
        raise IndexNotFoundError(f"no index in {root}: build one with 'vidseek index build LIBRARY --index-dir {root}'")
    return generation, Manifest.read(generation / "manifest.json")


@contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    """The lock a build holds on ``root``: no build may copy the catalog while it is being migrated."""
    with open(root / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"a 'vidseek index build' is running on {root}: try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def index_catalog_revision(root: Path, db_url: str | None = None) -> str | None:
    """The schema revision of the catalog of the index published in ``root`` (``vidseek db current``)."""
    root = Path(root)
    generation, manifest = _published(root)
    return catalog_revision(_catalog_url(root, generation, manifest, db_url, readonly=True))


def upgrade_index_catalog(root: Path, db_url: str | None = None) -> tuple[str | None, str]:
    """Migrate the catalog of the index published in ``root`` to this code's schema; returns (before, after).

    An external catalog is migrated in place (in one transaction). An embedded SQLite catalog is migrated
    on a copy that then replaces it in one rename, so a server reading the generation never sees it half done.
    """
    root = Path(root)
    generation, manifest = _published(root)
    if manifest.catalog == "external":
        return upgrade_catalog(_catalog_url(root, generation, manifest, db_url, readonly=False))
    catalog = generation / "catalog.db"
    if not catalog.is_file():
        raise IndexNotFoundError(f"the index in {root} has no catalog ({catalog} is missing): rebuild it with --rebuild")
    with _build_lock(root):
        upgrading = generation / "catalog.db.upgrading"
        shutil.copy2(catalog, upgrading)
        try:
            before, after = upgrade_catalog(sqlite_url(upgrading))
            if before != after:
                with open(upgrading, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(upgrading, catalog)
                _fsync_dir(generation)
        finally:
            upgrading.unlink(missing_ok=True)
    return before, after


class IndexReader:
    """A published generation opened read-only: search vectors, map ids to segments and videos."""

    def __init__(self, root: Path, db_url: str | None = None, bf16_scan: bool | None = None):
        """``bf16_scan``: let an exact flat search find its candidates in a bfloat16 copy of the vectors (1.5x the
        memory, ~3x faster) and re-score them exactly; default: where the CPU multiplies bfloat16 in hardware."""
        self.root = Path(root)
        self.bf16_scan = native_bfloat16() if bf16_scan is None else bf16_scan
        generation = current_generation(self.root)
        if generation is None:
            raise IndexNotFoundError(
                f"no index in {self.root}: build one with 'vidseek index build LIBRARY --index-dir {self.root}'"
            )
        self.generation = generation
        self.manifest = Manifest.read(generation / "manifest.json")
        search_file = generation / ("search.faiss" if self.manifest.index_type != "flat" else "vectors.faiss")
        self.index = tune_for_search(faiss.read_index(str(search_file)))
        url = _catalog_url(self.root, generation, self.manifest, db_url, readonly=True)
        self.engine = connect(url, readonly=True)
        try:
            check_catalog_revision(self.engine, upgrade_command=_upgrade_command(self.root, self.manifest, db_url))
        except (CatalogError, SQLAlchemyError) as exc:
            self.engine.dispose()
            raise IndexCatalogError(f"cannot read the catalog of the index in {self.root}: {exc}") from exc

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    def close(self) -> None:
        self.engine.dispose()

    def search(
        self, query: np.ndarray, k: int, offset: int = 0, min_score: float | None = None
    ) -> tuple[list[tuple[int, float]], int]:
        """Top ``offset..offset+k`` (segment id, score) by inner product, and how many match in all."""
        if self.count == 0:
            return [], 0
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        want = min(self.count, offset + k)
        scores, ids = self.index.search(query, want)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if min_score is not None:
            hits = [h for h in hits if h[1] >= min_score]
            total = self._count_above(query, min_score, fallback=len(hits))
        else:
            total = self.count
        return hits[offset : offset + k], total

    def _count_above(self, query: np.ndarray, min_score: float, fallback: int) -> int:
        try:
            # range_search keeps scores strictly above the radius; nudge it so ">= min_score" counts.
            lims, _, _ = self.index.range_search(query, float(np.nextafter(np.float32(min_score), -np.inf)))
            return int(lims[1])
        except RuntimeError:  # index types without range search
            return fallback

    def search_batch(
        self, queries: np.ndarray, ks: Sequence[int], offsets: Sequence[int], min_scores: Sequence[float | None]
    ) -> list[tuple[list[tuple[int, float]], int]]:
        """:meth:`search` for many queries at once: row ``i`` of ``queries`` [N, D] with ``ks[i]``, ``offsets[i]``
        and ``min_scores[i]``. The vectors are read once for all N, far cheaper than N searches."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or not len(queries) == len(ks) == len(offsets) == len(min_scores):
            raise ValueError(
                f"search_batch needs queries [N, D] and N ks, offsets and min_scores; got queries of shape {queries.shape} "
                f"and {len(ks)}, {len(offsets)}, {len(min_scores)}"
            )
        if self.count == 0 or len(queries) == 0:
            return [([], 0) for _ in range(len(queries))]
        want = min(self.count, max(o + k for o, k in zip(offsets, ks)))
        if self._flat_store is not None and (len(queries) > 1 or self._flat_bf16 is not None):
            # one float32 query: FAISS's own scan is cheaper
            scores, ids, counted = self._flat_search(queries, want, min_scores)
        else:
            scores, ids = self.index.search(queries, want)
            counted = [None] * len(queries)
            for min_score in {m for m in min_scores if m is not None}:
                rows = [i for i, m in enumerate(min_scores) if m == min_score]
                for row, count in zip(rows, self._counts_above(queries[rows], min_score)):
                    counted[row] = count
        results = []
        for row, (k, offset, min_score) in enumerate(zip(ks, offsets, min_scores)):
            hits = [(int(i), float(s)) for i, s in zip(ids[row, : offset + k], scores[row, : offset + k]) if i >= 0]
            if min_score is not None:
                hits = [h for h in hits if h[1] >= min_score]
                total = counted[row] if counted[row] is not None else len(hits)
            else:
                total = self.count
            results.append((hits[offset : offset + k], total))
        return results

    @cached_property
    def _flat_store(self) -> tuple[np.ndarray, torch.Tensor] | None:
        """(ids, vectors [n, D]) of an exact inner-product index, the vectors a view of FAISS's own memory; None
        for approximate indexes."""
        if not isinstance(self.index, faiss.IndexIDMap2):
            return None
        flat = faiss.downcast_index(self.index.index)
        if not isinstance(flat, faiss.IndexFlat) or flat.metric_type != faiss.METRIC_INNER_PRODUCT:
            return None
        vectors = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
        return faiss.vector_to_array(self.index.id_map).astype(np.int64), torch.from_numpy(vectors)

    @cached_property
    def _flat_bf16(self) -> tuple[torch.Tensor, float] | None:
        """(the flat vectors in bfloat16, their largest norm) when ``bf16_scan`` is on, else None."""
        if not self.bf16_scan or self._flat_store is None:
            return None
        vectors = self._flat_store[1]
        return vectors.to(torch.bfloat16), float(vectors.norm(dim=1).max())

    def _flat_search(
        self, queries: np.ndarray, want: int, min_scores: Sequence[float | None]
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """Exact top ``want`` (scores, ids) of each query, and how many score at least its min_score.

        One matrix product scores a whole batch, reading the vectors once. FAISS's flat search scans them once
        per query (this faiss-cpu build uses BLAS only from 128000 queries up): 2.5x the CPU for 8 queries at
        100k vectors. torch, not numpy: its threads are the query worker's (numpy's BLAS threads spin between
        calls, taking a core from the encoder; benchmarks/bench_query.py). With ``bf16_scan`` most rows are
        answered by :meth:`_bf16_search`; the float32 product scores only those it leaves."""
        ids, vectors = self._flat_store
        top_scores = np.empty((len(queries), want), np.float32)
        top_ids = np.empty((len(queries), want), np.int64)
        counted: list[int | None] = [None] * len(queries)
        rows = np.arange(len(queries))
        if self._flat_bf16 is not None:
            rows = self._bf16_search(queries, want, min_scores, top_scores, top_ids)
        step = max(1, FLAT_BATCH_SCORES // len(ids))  # bounds the [queries, n] score matrix
        for chunk in _chunks(rows, step):
            scores = torch.from_numpy(queries[chunk]) @ vectors.T
            top = torch.topk(scores, want, dim=1)
            top_scores[chunk] = top.values.numpy()
            top_ids[chunk] = ids[top.indices.numpy()]
            for i, row in enumerate(chunk):
                if min_scores[row] is not None:  # as range_search counts: scores >= min_score in float32
                    counted[row] = int((scores[i] >= np.float32(min_scores[row])).sum())
        return top_scores, top_ids, counted

    def _bf16_search(
        self,
        queries: np.ndarray,
        want: int,
        min_scores: Sequence[float | None],
        top_scores: np.ndarray,
        top_ids: np.ndarray,
    ) -> np.ndarray:
        """Fill the rows of ``top_scores``/``top_ids`` whose exact answer a bfloat16 scan proves; return the others.

        The bfloat16 product picks each query's :data:`BF16_POOL` best candidates, which are re-scored in
        float32. A vector outside the pool scores at most the pool's lowest bfloat16 score plus the rounding
        bound (:data:`BF16_SCORE_ERROR`), so when the exact ``want``-th best candidate scores at least that,
        nothing outside can beat it: the answer is the float32 scan's (ties aside). Rows that fail the test,
        and rows with a min_score (their count needs every exact score), are left to the float32 scan.
        """
        ids, vectors = self._flat_store
        low, largest_norm = self._flat_bf16
        pool = min(len(ids), max(BF16_POOL, 4 * want))
        left = [row for row, min_score in enumerate(min_scores) if min_score is not None]
        rows = np.array([row for row, min_score in enumerate(min_scores) if min_score is None], dtype=np.int64)
        for chunk in _chunks(rows, max(1, FLAT_BATCH_SCORES // len(ids))):
            q = torch.from_numpy(queries[chunk])
            approx, candidates = torch.topk(q.to(torch.bfloat16) @ low.T, pool, dim=1)
            exact = torch.einsum("qd,qpd->qp", q, vectors[candidates])
            best = torch.topk(exact, want, dim=1)
            bound = approx[:, -1].float() + BF16_SCORE_ERROR * q.norm(dim=1) * largest_norm
            proven = (best.values[:, -1] >= bound).numpy() | (pool == len(ids))
            chosen = torch.gather(candidates, 1, best.indices).numpy()
            top_scores[chunk[proven]] = best.values.numpy()[proven]
            top_ids[chunk[proven]] = ids[chosen[proven]]
            left.extend(chunk[~proven].tolist())
        return np.array(sorted(left), dtype=np.int64)

    def _counts_above(self, queries: np.ndarray, min_score: float) -> list[int | None]:
        """How many vectors score at least ``min_score`` for each query (None each where the index cannot tell)."""
        try:
            lims, _, _ = self.index.range_search(queries, float(np.nextafter(np.float32(min_score), -np.inf)))
        except RuntimeError:  # index types without range search
            return [None] * len(queries)
        return [int(n) for n in np.diff(lims)]

    def segments(self, ids: Iterable[int]) -> dict[int, SegmentRecord]:
        ids = list(ids)
        if not ids:
            return {}
        with Session(self.engine) as session:
            rows = session.execute(
                select(Segment.id, Segment.video_id, Video.path, Segment.start, Segment.end)
                .join(Video, Segment.video_id == Video.id)
                .where(Segment.id.in_(ids))
            ).all()
        return {row[0]: SegmentRecord(*row) for row in rows}

    def video(self, video_id: int) -> Video | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(select(Video).options(selectinload(Video.segments)).where(Video.id == video_id)).first()

    def open_video_file(self, video: Video) -> VideoFile:
        """Open an indexed video's file once it is checked to be the file that was indexed, inside the library
        (raises :class:`VideoFileError`; see :func:`indexer.video_files.open_indexed_file`)."""
        return open_indexed_file(video, self.manifest.library)

    def videos(self) -> list[Video]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(Video).order_by(Video.path)))

    def videos_with_segment_counts(self) -> list[tuple[Video, int]]:
        """Every catalogued file (indexed or failed), by path, with how many segments it has."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.execute(
                select(Video, func.count(Segment.id))
                .outerjoin(Segment, Segment.video_id == Video.id)
                .group_by(Video.id)
                .order_by(Video.path)
            ).all()
        return [(video, int(count)) for video, count in rows]

    def thumbnail_path(self, segment_id: int) -> Path:
        return self.root / THUMBS / f"{int(segment_id)}.jpg"

    def segment_vector(self, segment_id: int) -> np.ndarray | None:
        try:
            return self.index.reconstruct(int(segment_id))
        except RuntimeError:
            return None
