"""Bringing an index up to date with its library, whatever runs decode and embed: scan, incremental bookkeeping
(:func:`apply_scan`), commit in library order, checkpoints and publishing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from indexer.decoders import get_decoder
from indexer.errors import IndexWriteError
from indexer.index_dir.catalog import Video
from indexer.index_dir.records import VIDEO_INDEXED
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.commit import Committer
from indexer.pipeline.options import BuildOptions, BuildReport, manifest_for
from indexer.pipeline.plan import VideoJob
from indexer.pipeline.previews import check_mode, make_previews
from indexer.pipeline.texts import read_texts
from indexer.progress import progress_bar
from indexer.scan import LibraryFile, scan_library

IndexVideos = Callable[[Committer], None]
"""Runs decode and embed over ``committer.jobs`` (the new and changed files), calling ``committer.commit_ready()``
as jobs finish; on return every job is done (indexed or failed)."""


def update_index(encoder, options: BuildOptions, index_videos: IndexVideos) -> BuildReport:
    """Bring the index in ``options.index_dir`` up to date with ``options.library`` and publish it, with the
    decode-and-embed stage given: ``index_videos`` runs it over the new and changed files; scanning, dropping
    deleted files, committing in library order, the text stage (:mod:`~indexer.pipeline.texts`), the preview
    stage (:mod:`~indexer.pipeline.previews`) and publishing are the same for every runner."""
    started = time.perf_counter()
    # A backend that cannot load (not installed, no FFmpeg) stops the run here, with how to install it, instead
    # of failing every file, which the next run would then skip as unchanged.
    get_decoder(options.decoder)
    report = BuildReport()
    check_mode(options.previews)
    # The index dir may sit inside the library (the default ./vidseek-index): its posters and previews are no photos.
    exclude = [Path(options.index_dir)]
    if options.observer is not None:
        options.observer("scanning", 0, 0, {})
    files, unreadable = scan_library(Path(options.library), options.extensions, options.photos, exclude=exclude)
    report.files = len(files) + len(unreadable)
    files, unsettled = settled(files, options.settle_seconds)
    report.unsettled = [str(f.path) for f in unsettled]
    writer = _open_writer(encoder, options)
    try:
        todo = apply_scan(writer, files, unreadable, report, unsettled={str(f.path) for f in unsettled})
        _index_todo(todo, writer, report, options, index_videos, started)
        read_texts(writer, options, report)
        make_previews(writer, options, report)
        publishing = time.perf_counter()
        report.total_segments = int(writer.index.ntotal)
        writer.publish()
        report.publish_seconds = time.perf_counter() - publishing
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, OSError | SQLAlchemyError):
            raise IndexWriteError(
                f"cannot write the index in {options.index_dir}: {_reason(exc)}; the previously published index is unchanged"
            ) from exc
        raise
    report.seconds = time.perf_counter() - started
    return report


def _open_writer(encoder, options: BuildOptions) -> IndexWriter:
    try:
        return IndexWriter(
            options.index_dir,
            manifest_for(encoder, options),
            db_url=options.db_url,
            rebuild=options.rebuild,
            index_type=options.index_type,
        )
    except (OSError, SQLAlchemyError) as exc:
        raise IndexWriteError(f"cannot open the index in {options.index_dir} for writing: {_reason(exc)}") from exc


def _index_todo(
    todo: list[LibraryFile], writer: IndexWriter, report: BuildReport, options: BuildOptions, index_videos, started: float
) -> None:
    """Run ``index_videos`` over the files to (re)index, under the build's progress bar; every one is committed."""
    enabled = options.progress and bool(todo)
    progress = progress_bar(
        unit="segment", desc="indexing", enabled=enabled, interval=options.progress_seconds, observer=options.observer
    )
    try:
        if todo:
            jobs = [VideoJob(seq, f) for seq, f in enumerate(todo)]
            committer = Committer(jobs, writer, report, options, progress, build_started=started)
            index_videos(committer)
            committer.commit_ready()
            report.not_media = committer.not_media
            if not committer.finished:
                raise RuntimeError(f"the pipeline left {len(todo) - committer.next_commit} video(s) unfinished")
    finally:
        progress.close()


def settled(files: list[LibraryFile], settle_seconds: float) -> tuple[list[LibraryFile], list[LibraryFile]]:
    """``files`` split into those whose last change is at least ``settle_seconds`` old and those still being
    written (changed since; an mtime in the future counts as settled, or such a file would never be indexed)."""
    done: list[LibraryFile] = []
    busy: list[LibraryFile] = []
    now, limit = time.time_ns(), settle_seconds * 1e9
    for f in files:
        (busy if 0 <= now - f.mtime_ns < limit else done).append(f)
    return done, busy


def apply_scan(
    writer: IndexWriter,
    files: list[LibraryFile],
    unreadable: list[tuple[Path, str]],
    report: BuildReport,
    unsettled: set[str] = frozenset(),
) -> list[LibraryFile]:
    """Bring the catalog in line with a scan of the library, except for the files to (re)index, which are returned:
    a file that moved or was renamed keeps its segments and vectors (its fingerprint, size, mtime and first bytes,
    matches an indexed file no longer where it was: only its path changes), deleted files leave the index, changed
    ones leave it to be indexed again, unreadable ones are recorded. The ``unsettled`` paths (files still being
    written) are left as the catalog has them, for a later build."""
    known = writer.known_videos()
    present = {str(f.path) for f in files} | {str(p) for p, _ in unreadable} | set(unsettled)
    vanished = {path: video for path, video in known.items() if path not in present}
    moved_from = _move_sources(vanished.values())
    todo = []
    for f in files:
        video = known.get(str(f.path))
        if video is not None and video.fingerprint == f.fingerprint:
            writer.record_identity(video, f.device, f.inode)  # the same content: never re-embedded for this
            report.unchanged += 1
            continue
        source = moved_from.pop(f.fingerprint, None) if video is None else None
        if source is not None:
            del vanished[source.path]
            writer.move_video(source, str(f.path), f.device, f.inode)
            report.moved += 1
            continue
        if video is not None:
            writer.remove_video(video)
        todo.append(f)
    for video in vanished.values():
        writer.remove_video(video)
        report.removed += 1
    for path, reason in unreadable:
        if str(path) in known:
            writer.remove_video(known[str(path)])
        writer.record_failure(str(path), "", 0, reason)
        report.failed.append((str(path), reason))
    return todo


def _move_sources(vanished: Iterable[Video]) -> dict[str, Video]:
    """The indexed videos no longer where they were, by fingerprint: where a file of that fingerprint turns up,
    it moved there (one of several identical vanished files each time)."""
    sources: dict[str, Video] = {}
    for video in vanished:
        if video.status == VIDEO_INDEXED and video.fingerprint:
            sources.setdefault(video.fingerprint, video)
    return sources


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        original = getattr(exc, "orig", None)
        text = str(original or exc).splitlines()[0]
        return f"catalog database error: {text}" + (" (another process holds it)" if "locked" in text else "")
    return str(exc)
