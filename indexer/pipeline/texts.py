"""The text stage: what each indexed file says in words (:mod:`indexer.texts`: subtitle cues by segment, its name,
its title) and its facets (when it was made, its folder, whether it has subtitles), read for every video whose
stamp (path, fingerprint, sidecars) changed since it was last read, and stored in the catalog's ``texts`` (its
full-text index follows). Like the preview stage it works from the catalog: an index built before it gets its
words on the next build, a new or edited sidecar is read again, and nothing is decoded or embedded.

Reading is demuxing (subtitle packets only) and parsing, no decoding: threads, and the catalog is written from
the build's own thread as each file's words arrive."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexer.cores import usable_cores
from indexer.index_dir.catalog import Video
from indexer.index_dir.records import PHOTO_KIND
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, BuildReport
from indexer.progress import progress_bar
from indexer.texts import Transcriber, VideoWords, text_stamp, video_words

log = logging.getLogger(__name__)


def read_words(
    path: str, library: str, spans: list[tuple[float, float]], photo: bool, transcriber: Transcriber | None = None
) -> VideoWords | None:
    """One file's words; None (logged) where reading them failed in a way the readers do not catch."""
    try:
        return video_words(Path(path), Path(library), spans, photo, transcriber)
    except Exception as exc:  # a file's words are never worth a build: it keeps its pixels, without words
        log.warning("%s: cannot read its words (%s)", path, exc)
        return None


def _listing(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(folder)]
    except OSError:
        return []


def read_texts(writer: IndexWriter, options: BuildOptions, report: BuildReport) -> None:
    """Read the words of every indexed video whose text stamp changed, and store them."""
    library = Path(options.library).expanduser().resolve()
    transcriber = options.transcriber
    speech = transcriber.name if transcriber is not None else ""
    todo: list[tuple[Video, str]] = []
    listings: dict[Path, list[str]] = {}  # each folder listed once per build, however many videos it holds
    for video in writer.indexed_videos():
        path = Path(video.path)
        if path.parent not in listings:
            listings[path.parent] = _listing(path.parent)
        stamp = text_stamp(path, video.fingerprint, listings[path.parent], speech)
        if video.texts_stamp != stamp:
            todo.append((video, stamp))
    if not todo:
        return
    started = time.perf_counter()
    workers = max(1, options.workers or usable_cores())
    enabled = options.progress
    progress = progress_bar(
        len(todo), unit="video", desc="words", enabled=enabled, interval=options.progress_seconds, observer=options.observer
    )
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="vidseek-words") as pool:
            futures = [
                pool.submit(
                    read_words, v.path, str(library), [(s.start, s.end) for s in v.segments], v.kind == PHOTO_KIND, transcriber
                )
                for v, _ in todo
            ]
            for (video, stamp), future in zip(todo, futures):
                words = future.result()
                if words is not None:
                    writer.record_texts(video, words, stamp)
                    report.texts_read += 1
                progress.update(1)
    finally:
        progress.close()
    report.text_seconds = time.perf_counter() - started
