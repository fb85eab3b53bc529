"""Seek thumbnails: a grid of small frames in one JPEG (a sprite sheet) and the WebVTT track that says which part of
it shows which stretch of the video (:func:`make_sprites`), in the convention video players share::

    WEBVTT

    00:00:00.000 --> 00:00:02.000
    12.jpg#xywh=0,0,160,90

Tile ``i`` covers ``[i * interval, (i + 1) * interval)`` (the last one ends at the duration) and shows the frame at
the middle of that stretch (:func:`sprite_times`): a hover anywhere in it is at most half an interval from the
picture, and the first tile is not the black frame many videos open with. Frames are decoded by the indexer's own
decoder, so their times are the catalog's (seconds from the video stream's start), and turned as a player shows
them (a phone's portrait video).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

from indexer.decoders import get_decoder
from indexer.decoders.base import open_video_stream
from indexer.errors import DecodeError, PreviewError
from indexer.previews.probe import display_rotation, still_picture

JPEG_QUALITY = 70


@dataclass(frozen=True)
class SpriteSheet:
    """What :func:`make_sprites` wrote: ``tiles`` frames ``interval`` seconds apart, ``columns`` to a row, each
    ``tile_width`` x ``tile_height``; ``bytes``: the sheet's and the track's sizes together."""

    interval: float
    tiles: int
    columns: int
    tile_width: int
    tile_height: int
    bytes: int


def sprite_interval(duration: float, max_tiles: int = 100, min_interval: float = 1.0) -> float:
    """Seconds per tile: ``min_interval``, or, where that would take more than ``max_tiles``, whole seconds enough
    to cover ``duration`` with ``max_tiles`` (round numbers in the track)."""
    if not duration or duration <= 0 or not math.isfinite(duration):
        raise PreviewError(f"no sprites for a duration of {duration}: not a video with a length")
    if max_tiles < 1 or min_interval <= 0:
        raise ValueError("max_tiles must be at least 1 and min_interval positive")
    needed = duration / max_tiles
    return float(min_interval) if needed <= min_interval else float(math.ceil(needed - 1e-9))


def sprite_times(duration: float, max_tiles: int = 100, min_interval: float = 1.0) -> list[float]:
    """The instant each tile shows: the middle of the stretch it covers, tiles back to back over ``[0, duration)``."""
    interval = sprite_interval(duration, max_tiles, min_interval)
    return [(start + end) / 2 for start, end in _cue_bounds(duration, interval)]


def make_sprites(
    source: Path,
    sheet_dest: Path,
    vtt_dest: Path,
    duration: float,
    tile_height: int = 90,
    columns: int = 10,
    max_tiles: int = 100,
    decoder: str = "pyav",
) -> SpriteSheet:
    """Decode the frames at :func:`sprite_times`, write them as a JPEG grid at ``sheet_dest`` and the WebVTT track
    naming it (relative to ``vtt_dest``) at ``vtt_dest``, each written aside then moved into place. Raises
    :class:`PreviewError` when the video cannot be read (or has no length)."""
    source, sheet_dest, vtt_dest = Path(source), Path(sheet_dest), Path(vtt_dest)
    interval = sprite_interval(duration, max_tiles)
    times = sprite_times(duration, max_tiles)
    try:
        tile_width, turns = _tile_geometry(source, tile_height)
        images = get_decoder(decoder).read(source, times, min(tile_width, tile_height)).images
    except DecodeError as exc:
        raise PreviewError(f"cannot make sprites: {exc}") from exc
    columns = max(1, min(columns, len(times)))
    buffer = io.BytesIO()
    try:
        _sheet(images, columns, tile_width, tile_height, turns).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    except (OSError, ValueError) as exc:  # a sheet over JPEG's 65,535 pixels a side
        raise PreviewError(f"cannot make sprites: {exc}") from exc
    name = quote(Path(os.path.relpath(sheet_dest, vtt_dest.parent)).as_posix())
    track = webvtt(name, duration, interval, columns, tile_width, tile_height).encode()
    _write_atomically(sheet_dest, buffer.getvalue())  # the sheet first: a track never names a missing sheet
    _write_atomically(vtt_dest, track)
    return SpriteSheet(interval, len(times), columns, tile_width, tile_height, len(buffer.getvalue()) + len(track))


def webvtt(sheet: str, duration: float, interval: float, columns: int, tile_width: int, tile_height: int) -> str:
    """The thumbnails track: one cue per tile, back to back from 0 to ``duration``, each naming its tile in
    ``sheet`` by ``#xywh=x,y,w,h``."""
    lines = ["WEBVTT", ""]
    for i, (start, end) in enumerate(_cue_bounds(duration, interval)):
        x, y = (i % columns) * tile_width, (i // columns) * tile_height
        lines += [f"{_clock(start)} --> {_clock(end)}", f"{sheet}#xywh={x},{y},{tile_width},{tile_height}", ""]
    return "\n".join(lines)


def _cue_bounds(duration: float, interval: float) -> list[tuple[float, float]]:
    tiles = max(1, math.ceil(duration / interval - 1e-9))
    return [(i * interval, min((i + 1) * interval, duration)) for i in range(tiles)]


def _clock(seconds: float) -> str:
    """WebVTT's timestamp, hh:mm:ss.mmm."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _tile_geometry(source: Path, tile_height: int) -> tuple[int, int]:
    """A tile's width for ``tile_height`` (the video's display aspect, its sample aspect applied, even) and the
    quarter turns (counter-clockwise) that show its frames as a player does (:func:`display_rotation`)."""
    with open_video_stream(source) as video:
        if still_picture(video.container.format.name):
            raise PreviewError(f"no sprites of a still picture ({video.container.format.name})")
        sample_aspect = video.stream.sample_aspect_ratio or video.stream.codec_context.sample_aspect_ratio
        aspect = Fraction(video.width, video.height) * (sample_aspect if sample_aspect and sample_aspect > 0 else 1)
    turns = display_rotation(source) // 90
    if turns % 2:
        aspect = 1 / aspect
    return max(2, round(tile_height * float(aspect) / 2) * 2), turns


def _sheet(images: np.ndarray, columns: int, tile_width: int, tile_height: int, turns: int = 0) -> Image.Image:
    """The frames in a grid, ``columns`` to a row, each turned ``turns`` quarter turns and resized to the tile size."""
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * tile_width, rows * tile_height))
    for i, image in enumerate(images):
        tile = Image.fromarray(np.rot90(image, turns) if turns else image)
        if tile.size != (tile_width, tile_height):
            tile = tile.resize((tile_width, tile_height), Image.BILINEAR)
        sheet.paste(tile, ((i % columns) * tile_width, (i // columns) * tile_height))
    return sheet


def _write_atomically(dest: Path, data: bytes) -> None:
    """``data`` at ``dest``, written to a temporary file beside it and moved into place."""
    part = part_path(dest)
    try:
        part.write_bytes(data)  # with the mode the umask gives, as posters are: a server running as another user reads it
        os.replace(part, dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise PreviewError(f"cannot write {dest.name}: {exc.strerror or exc}") from exc


def part_path(dest: Path) -> Path:
    """Where ``dest`` is written before it is moved into place (one build writes an index's previews at a time)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.part")
