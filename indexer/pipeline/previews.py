"""The preview stage of a build: after the index holds every video, each one is probed (container and codecs: can a
browser play it as it is?), a browser-playable preview is made where one is needed (``--previews auto``) or for every
video (``all``), and a sprite sheet with its WebVTT thumbnails track for hover scrubbing.

It works from the catalog, not from the files this build indexed: a video indexed by an older vidseek, or one whose
previews a killed build never made, gets them on the next build, without being decoded for its vectors again. Its
tasks run in the build's kind of worker processes (one file at a time each, timed out like decode tasks); a
preview that cannot be made is recorded with its reason (the video stays indexed and plays its original), shown in
the build report and on the library page, and not retried until the file changes. Photos get none.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.cores import usable_cores
from indexer.errors import IndexerError, NotMediaError, PreviewError
from indexer.index_dir.layout import PREVIEWS, SPRITES, preview_path, sprite_paths
from indexer.index_dir.records import VIDEO_KIND
from indexer.pipeline.options import BuildOptions, BuildReport
from indexer.progress import progress_bar

if TYPE_CHECKING:
    from indexer.index_dir.catalog import Video
    from indexer.index_dir.writer import IndexWriter

log = logging.getLogger(__name__)

PREVIEW_MODES = ("auto", "all", "off")
CRASHED = "the preview process crashed on this file"


@dataclass(frozen=True)
class PreviewWork:
    """What one video still lacks."""

    video_id: int
    path: str
    duration: float
    probe: bool  # its container and codecs are not known yet
    preview: bool  # a preview must be made, unless probing shows the browser plays it (mode auto)
    sprites: bool


@dataclass(frozen=True)
class PreviewResult:
    video_id: int
    media: object | None  # a MediaProbe when probed
    preview_bytes: int | None
    sprite_bytes: int | None
    error: str | None = None


def check_mode(mode: str) -> str:
    if mode not in PREVIEW_MODES:
        raise ValueError(f"previews must be one of {', '.join(PREVIEW_MODES)}, not {mode!r}")
    return mode


def work_for(video: Video, root: Path, mode: str) -> PreviewWork | None:
    """What ``video`` (an indexed catalog row) still lacks under ``mode``; None: nothing (or its previews failed
    before: they are tried again when the file changes, like a file that failed to decode)."""
    if mode == "off" or video.preview_error is not None:
        return None
    has_preview = video.preview_bytes is not None and preview_path(root, video.id).is_file()
    has_sprites = video.sprite_bytes is not None and all(p.is_file() for p in sprite_paths(root, video.id))
    wants_preview = mode == "all" or video.playable is not True
    work = PreviewWork(
        video_id=video.id,
        path=video.path,
        duration=float(video.duration or 0.0),
        probe=video.playable is None,
        preview=wants_preview and not has_preview,
        sprites=not has_sprites,
    )
    return work if work.probe or work.preview or work.sprites else None


def preview_task(work: PreviewWork, root: str, mode: str, threads: int) -> PreviewResult:
    """In a worker: probe the file, make what ``work`` lacks. Every failure becomes the result's error."""
    from indexer.previews import make_preview, needs_preview, probe_media

    preview_bytes = sprite_bytes = None
    try:
        media = probe_media(Path(work.path))
    except (NotMediaError, PreviewError) as exc:
        return PreviewResult(work.video_id, None, None, None, f"cannot probe the file: {exc}")
    preview = preview_path(root, work.video_id)
    try:
        if work.preview and needs_preview(media, mode):
            preview_bytes = make_preview(Path(work.path), preview, threads=threads)
        if work.sprites:
            sprite_bytes = _sprites(work, root, preview, media)
    except (PreviewError, IndexerError, OSError) as exc:
        return PreviewResult(work.video_id, media, preview_bytes, sprite_bytes, str(exc))
    return PreviewResult(work.video_id, media, preview_bytes, sprite_bytes)


def _sprites(work: PreviewWork, root: str, preview: Path, media) -> int:
    """The sprite sheet, from the preview where there is one (the same clock as the indexer's; decoding 360p H.264
    costs about a twenty-fifth of a 1080p original), else from the original. Exact frames either way: the nearest
    keyframes would be cheaper, but a file with 10 s between keyframes would scrub through one picture."""
    from indexer.previews import make_sprites

    source = preview if preview.is_file() else Path(work.path)
    sheet, vtt = sprite_paths(root, work.video_id)
    return make_sprites(source, sheet, vtt, work.duration or (media.duration or 0.0)).bytes


def make_previews(writer: IndexWriter, options: BuildOptions, report: BuildReport) -> None:
    """Probe every indexed video and make the previews and sprite sheets it lacks (see the module docstring)."""
    mode = check_mode(options.previews)
    if mode == "off":
        return
    videos = {v.id: v for v in writer.indexed_videos(kind=VIDEO_KIND)}
    todo = [w for w in (work_for(v, writer.root, mode) for v in videos.values()) if w is not None]
    if not todo:
        return
    started = time.perf_counter()
    PreviewRunner(writer, options, report, videos, mode).run(todo)
    report.preview_seconds = time.perf_counter() - started


class PreviewRunner:
    """Preview tasks in a pool of worker processes, results recorded in the catalog as they come (a checkpoint
    every ``checkpoint_seconds``), a hung task given up after ``file_timeout`` plus the video's own length."""

    def __init__(self, writer: IndexWriter, options: BuildOptions, report: BuildReport, videos: dict, mode: str):
        from indexer.pipeline.workers import DecodePool, TaskClock

        self.writer, self.options, self.report, self.videos, self.mode = writer, options, report, videos, mode
        self.workers = max(1, options.workers or usable_cores())
        self.threads = max(1, usable_cores() // self.workers)
        self.pool = DecodePool(self.workers, "pyav")
        self.clock = TaskClock(options.file_timeout)
        self.in_flight: dict[Future, PreviewWork] = {}
        self.last_checkpoint = time.monotonic()

    def run(self, todo: list[PreviewWork]) -> None:
        queue = list(reversed(todo))
        enabled = self.options.progress
        progress = progress_bar(
            len(todo),
            unit="video",
            desc="previews",
            enabled=enabled,
            interval=self.options.progress_seconds,
            observer=self.options.observer,
        )
        try:
            while queue or self.in_flight:
                while queue and len(self.in_flight) < 2 * self.workers:
                    work = queue.pop()
                    future = self.pool.submit(preview_task, work, str(self.writer.root), self.mode, self.threads)
                    self.in_flight[future] = work
                    self.clock.submitted(future)
                done, _ = wait(list(self.in_flight), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    if future in self.in_flight:  # not one of a broken pool's, already retried by _restart
                        self._record(self._result(future))
                        progress.update(1)
                if not done:
                    self._check_timeouts(queue)
                if time.monotonic() - self.last_checkpoint >= self.options.checkpoint_seconds and (queue or self.in_flight):
                    self.writer.checkpoint()
                    self.videos = {v.id: v for v in self.writer.indexed_videos(kind=VIDEO_KIND)}  # the new session's rows
                    self.last_checkpoint = time.monotonic()
        finally:
            progress.close()
            self.pool.shutdown()

    def _result(self, future: Future) -> PreviewResult:
        work = self.in_flight.pop(future)
        self.clock.forget(future)
        try:
            return future.result()
        except BrokenProcessPool:
            # Which task killed the worker is unknown: the others in flight are retried on a new pool, this one is
            # recorded as the cause (a crash is rare enough that a wrong guess costs one preview).
            self._restart()
            return PreviewResult(work.video_id, None, None, None, CRASHED)
        except Exception as exc:  # noqa: BLE001 - a bad file never stops the build
            return PreviewResult(work.video_id, None, None, None, f"{type(exc).__name__}: {exc}")

    def _check_timeouts(self, queue: list[PreviewWork]) -> None:
        overdue = [
            f for f in self.clock.overdue(list(self.in_flight), self.pool.started) if f in self.in_flight and self._past_limit(f)
        ]
        if not overdue:
            return
        for future in overdue:
            work = self.in_flight.pop(future)
            self.clock.forget(future)
            self._record(PreviewResult(work.video_id, None, None, None, "making its preview took too long; gave up"))
        self.pool.kill()
        queue.extend(self.in_flight.values())  # the others are retried
        self.in_flight.clear()
        self.clock.clear()
        self.pool.restart()

    def _past_limit(self, future: Future) -> bool:
        started = self.clock.started_at.get(future)
        limit = self.options.file_timeout + self.in_flight[future].duration  # a transcode takes about real time at worst
        return started is not None and time.monotonic() - started > limit

    def _restart(self) -> None:
        retry = list(self.in_flight.items())
        self.in_flight.clear()
        self.clock.clear()
        self.pool.restart()
        for _, work in retry:
            future = self.pool.submit(preview_task, work, str(self.writer.root), self.mode, self.threads)
            self.in_flight[future] = work
            self.clock.submitted(future)

    def _record(self, result: PreviewResult) -> None:
        video = self.videos.get(result.video_id)
        if video is None:
            return
        if result.media is not None:
            self.writer.record_media(video, result.media)
        preview = result.preview_bytes if result.preview_bytes is not None else video.preview_bytes
        sprites = result.sprite_bytes if result.sprite_bytes is not None else video.sprite_bytes
        self.writer.record_previews(video, preview, sprites, result.error)
        if result.preview_bytes is not None:
            self.report.previews += 1
        if result.error:
            log.warning("no preview for %s: %s", video.path, result.error)
            self.report.preview_failed.append((video.path, result.error))


def previews_disk_use(root: Path) -> int:
    """Bytes the previews and sprite sheets of the index in ``root`` take on disk."""
    folders = [Path(root) / PREVIEWS, Path(root) / SPRITES]
    return sum(f.stat().st_size for folder in folders if folder.is_dir() for f in folder.iterdir() if f.is_file())
