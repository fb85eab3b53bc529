"""``vidseek index frames VIDEO``: which frames the index would sample from a video, segment by segment (their
numbers and times), as a table, as JSON, or as a contact sheet: what the model saw, for "why did it miss this?".

Torch-free (no model is loaded), so it answers in a moment: only the decoders and the build's own planning run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SHEET_TILE_SIDE = 96  # the short side of each frame on a contact sheet, pixels
SHEET_MAX_ROWS = 60  # segments shown on one sheet; the rest are left out, and the sheet says how many
CHUNK_SEGMENTS = 8  # segments decoded at once: a long video's frames are never all in memory


def add_frames_command(index_commands) -> None:
    frames = index_commands.add_parser(
        "frames",
        help="show which frames the index samples from a video (numbers, times, a contact sheet)",
        description="Plan VIDEO's segments as 'index build' plans them and list, for each, the frames sampled from "
        "it: the frame shown at the middle of each of --frames equal parts of the segment (ViFi-CLIP's sampling). "
        "A frame's number is its presentation time times the stream's frame rate, rounded: exact for a "
        "constant-frame-rate video, approximate for a variable one. Loads no model.",
    )
    frames.set_defaults(run=cmd_index_frames)
    frames.add_argument("video", type=Path, help="a video file")
    # No default= on options that BuildOptions has: its defaults apply, as for 'index build'.
    frames.add_argument("--frames", type=int, help="frames sampled per segment (default: 8)")
    frames.add_argument("--segment-seconds", type=float, help="segment length in seconds (default: 10)")
    frames.add_argument("--decoder", help="pyav (default), torchcodec, decord, pyav-keyframes (= --fast-seek) or module:Class")
    frames.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    frames.add_argument(
        "--sheet",
        type=Path,
        metavar="OUT.jpg",
        help=f"also write a JPEG contact sheet: a row per segment (at most {SHEET_MAX_ROWS}), a column per frame, each "
        "labelled with its number and time",
    )


@dataclass
class SampledSegment:
    start: float
    end: float
    instants: list[float]  # the instants sampled
    times: list[float]  # the presentation time of the frame chosen for each
    indices: list[int]  # that frame's number: round(time * fps)


def cmd_index_frames(args: argparse.Namespace) -> int:
    from indexer.decoders import get_decoder
    from indexer.pipeline.options import BuildOptions

    defaults = {f.name: f.default for f in dataclasses.fields(BuildOptions)}
    frames = args.frames if args.frames is not None else defaults["frames"]
    segment_seconds = args.segment_seconds if args.segment_seconds is not None else defaults["segment_seconds"]
    decoder_name = args.decoder or defaults["decoder"]
    if frames < 1 or segment_seconds <= 0:
        raise ValueError("--frames must be at least 1 and --segment-seconds above 0")
    if not args.video.is_file():
        raise FileNotFoundError(f"no such video file: {args.video}")
    decoder = get_decoder(decoder_name)
    side = SHEET_TILE_SIDE if args.sheet else 16  # the frames chosen do not depend on their size
    info, segments, images = sampled_frames(decoder, args.video, frames, segment_seconds, side, keep=SHEET_MAX_ROWS)
    if args.json:
        print(json.dumps(_as_json(args.video, info, frames, segment_seconds, decoder_name, segments)))
    else:
        print(_as_table(args.video, info, frames, segments))
    if args.sheet:
        left_out = len(segments) - len(images)
        write_sheet(args.sheet, segments[: len(images)], images, left_out)
        shown = f" (the first {len(images)} segments; {left_out} left out)" if left_out else ""
        print(f"contact sheet: {args.sheet}{shown}", file=sys.stderr)
    return 0


def sampled_frames(decoder, path: Path, frames: int, segment_seconds: float, short_side: int, keep: int):
    """The video's header, its segments as the build plans them with the frames each samples, and the images of the
    first ``keep`` segments ([T, H, W, 3] each). When the stream ends before its header says, the segments are
    planned again over its real length, as the build does."""
    from indexer.errors import DecodeError

    try:
        info = decoder.probe(path)
    except DecodeError as exc:
        raise DecodeError(f"{path}: {exc}") from None
    segments, images, real_end = _sample(decoder, path, info, info.duration, frames, segment_seconds, short_side, keep)
    if real_end is not None and info.duration - real_end > max(0.5, 2.0 / info.fps):  # the build's re-plan tolerance
        segments, images, _ = _sample(decoder, path, info, real_end, frames, segment_seconds, short_side, keep)
    return info, segments, images


def _sample(decoder, path: Path, info, duration: float, frames: int, segment_seconds: float, short_side: int, keep: int):
    """The segments of ``duration`` with their sampled frames, decoded a chunk at a time; and where the stream
    ended, when it ended before the instants asked for."""
    from indexer.decoders.base import read_frames
    from indexer.segment import plan_segments, sample_frame_times

    segments, images, ends = [], [], []
    planned = plan_segments(duration, segment_seconds)
    for first in range(0, len(planned), CHUNK_SEGMENTS):
        chunk = planned[first : first + CHUNK_SEGMENTS]
        instants = [sample_frame_times(s.start, s.end, frames) for s in chunk]
        result = read_frames(decoder, path, [t for ts in instants for t in ts], short_side)
        if result.end_time is not None:
            ends.append(result.end_time)
        for k, (segment, ts) in enumerate(zip(chunk, instants)):
            times = result.times[k * frames : (k + 1) * frames]
            segments.append(SampledSegment(segment.start, segment.end, ts, times, [round(t * info.fps) for t in times]))
            if len(images) < keep:
                images.append(result.images[k * frames : (k + 1) * frames])
    return segments, images, min(ends) if ends else None


def _as_json(path: Path, info, frames: int, segment_seconds: float, decoder: str, segments: list[SampledSegment]) -> dict:
    return {
        "video": str(path),
        "duration": info.duration,
        "fps": info.fps,
        "frames": frames,
        "segment_seconds": segment_seconds,
        "decoder": decoder,
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "instants": [round(t, 6) for t in s.instants],
                "indices": s.indices,
                "times": [round(t, 6) for t in s.times],
            }
            for s in segments
        ],
    }


def _as_table(path: Path, info, frames: int, segments: list[SampledSegment]) -> str:
    lines = [
        f"{path}: {info.duration:.2f}s at {info.fps:g} fps, {len(segments)} segment(s), {frames} frame(s) each",
        f"{'segment':>7}  {'start':>9}  {'end':>9}  frames (number@seconds)",
    ]
    for number, s in enumerate(segments):
        picks = " ".join(f"{i}@{t:.3f}" for i, t in zip(s.indices, s.times))
        lines.append(f"{number:>7}  {s.start:>9.3f}  {s.end:>9.3f}  {picks}")
    return "\n".join(lines)


def write_sheet(out: Path, segments: list[SampledSegment], images: list[np.ndarray], left_out: int) -> None:
    """A JPEG grid: a row per segment, a column per sampled frame, each tile labelled "#number time"."""
    from PIL import Image, ImageDraw

    label, margin = 14, 4
    tile_h, tile_w = images[0].shape[1:3]
    cols = images[0].shape[0]
    footer = label if left_out else 0
    sheet = Image.new("RGB", (cols * (tile_w + margin) + margin, len(images) * (tile_h + label + margin) + margin + footer))
    draw = ImageDraw.Draw(sheet)
    for row, (segment, clip) in enumerate(zip(segments, images)):
        y = margin + row * (tile_h + label + margin)
        for col, (image, index, t) in enumerate(zip(clip, segment.indices, segment.times)):
            x = margin + col * (tile_w + margin)
            sheet.paste(Image.fromarray(image), (x, y))
            draw.text((x + 1, y + tile_h + 1), f"#{index} {t:.2f}s", fill=(255, 255, 255))
    if left_out:
        draw.text((margin, sheet.height - label), f"{left_out} more segment(s) left out", fill=(255, 200, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="JPEG", quality=85)
