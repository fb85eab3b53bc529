"""What a build is asked to do (:class:`BuildOptions`) and what it did (:class:`BuildReport`), and what follows
from the options and the encoder alone: the manifest, the decode size, the batch size."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.clips import decode_resampling, decode_short_side
from indexer.progress import LINE_INTERVAL_S, ProgressObserver
from indexer.segmenters import SegmentRule

if TYPE_CHECKING:
    from indexer.index_dir.manifest import Manifest
    from indexer.texts.speech import Transcriber


@dataclass
class BuildOptions:
    library: Path
    index_dir: Path
    frames: int = 8
    segment_seconds: float = 10.0  # the windows of segments="fixed"
    segments: str = "shots"  # shots (cut at shot boundaries, indexer/segmenters/shots.py) or fixed windows
    max_segment_seconds: float = 20.0  # shots: a longer shot is split into equal parts
    min_segment_seconds: float = 2.0  # shots: a shorter one joins a neighbour
    batch_size: int | None = None  # segments per encoder batch; None: sized by the encoder (GPU memory; 16 on a CPU)
    workers: int | None = None
    rebuild: bool = False
    db_url: str | None = None
    decoder: str = "pyav"
    chunk_segments: int = 8
    file_timeout: float = 600.0  # seconds one decode task may take before its file is given up
    index_type: str = "auto"  # flat, hnsw, ivfpq, or auto (by size: indexer/index_dir/ann.py)
    checkpoint_seconds: float = 300.0  # publish progress this often, so a killed build resumes from there
    progress: bool = True  # a bar of segments on a terminal, else a line every progress_seconds (indexer/progress.py)
    progress_seconds: float = LINE_INTERVAL_S
    extensions: frozenset[str] | None = None  # file name endings scanned (".mkv"); None: indexer.scan's defaults
    photos: bool = True  # index pictures (.jpg, .png, .webp, .heic) as one-frame clips
    previews: str = "auto"  # browser-playable previews and sprite sheets: auto (where the browser needs one), all, off
    settle_seconds: float = 0.0  # a file changed less than this long ago is still being written: left for a later build
    observer: ProgressObserver | None = None  # told of every stage's progress (a job's record); None: the bars only
    transcriber: Transcriber | None = None  # speech as cues beside the subtitles (indexer/texts/speech.py); None: none


@dataclass
class BuildReport:
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    moved: int = 0  # files found moved or renamed: their segments kept, nothing decoded or embedded
    unsettled: list[str] = field(default_factory=list)  # files still being written (settle_seconds): left as they were
    segments: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    total_segments: int = 0
    # Fixed costs around the pipeline, so that its own rate can be told apart from them (0: not measured).
    startup_seconds: float = 0.0  # until the first decoded frames came back: scan, catalog, decode workers' start-up
    startup_segments: int = 0  # the segments of that first result
    publish_seconds: float = 0.0  # after the last video: writing and publishing the index
    not_media: int = 0  # files scanned by name that probing found not to be videos: skipped silently
    previews: int = 0  # browser-playable previews made
    preview_failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why): they play their original
    preview_seconds: float = 0.0  # the preview stage's time (part of ``seconds``)
    texts_read: int = 0  # videos whose words (subtitles, name, title) the text stage read
    text_seconds: float = 0.0  # the text stage's time (part of ``seconds``)

    @property
    def segments_per_second(self) -> float:
        return self.segments / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_segments_per_second(self) -> float:
        """Segments/s between start-up and publishing: the pipeline's own rate, the one to compare with its stages'
        (the first result's segments are left out with the start-up that ends when they arrive)."""
        seconds = self.seconds - self.startup_seconds - self.publish_seconds
        return (self.segments - self.startup_segments) / seconds if seconds > 0 else 0.0

    @property
    def all_failed(self) -> bool:
        attempted = self.indexed + len(self.failed)
        return attempted > 0 and self.indexed == 0

    def summary(self) -> str:
        lines = [
            f"indexed {self.indexed} file(s), {self.segments} segment(s) in {self.seconds:.1f}s "
            f"({self.segments_per_second:.2f} segments/s); skipped {self.unchanged} unchanged; "
            f"removed {self.removed} deleted; failed {len(self.failed)}; index holds {self.total_segments} segment(s)"
        ]
        if self.unsettled:
            lines.append(f"left {len(self.unsettled)} file(s) still being written for the next build")
        if self.moved:
            lines.append(f"kept the segments of {self.moved} file(s) that moved or were renamed (nothing embedded again)")
        if self.not_media:
            lines.append(f"skipped {self.not_media} file(s) that are not videos (text, audio only)")
        if self.texts_read:
            lines.append(f"read the words (subtitles, names, titles) of {self.texts_read} file(s) in {self.text_seconds:.1f}s")
        if self.previews or self.preview_failed:
            made = f"made {self.previews} browser preview(s) in {self.preview_seconds:.1f}s"
            lines.append(f"{made}; {len(self.preview_failed)} could not be made")
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"  no preview: {path}: {reason} (its original is served)" for path, reason in self.preview_failed]
        lines += [f"  note: {path}: {note}" for path, note in self.notes]
        return "\n".join(lines)


def segment_rule(options: BuildOptions) -> SegmentRule:
    """How the build cuts videos into segments (raises ValueError for an unknown segmenter or bad lengths)."""
    return SegmentRule(options.segments, options.segment_seconds, options.max_segment_seconds, options.min_segment_seconds)


def manifest_for(encoder, options: BuildOptions) -> Manifest:
    from indexer.index_dir.manifest import SAMPLING, Manifest  # here: the catalog it imports costs `index frames` 0.8 s

    spec = encoder.spec
    return Manifest(
        model=spec.name,
        pretrained=spec.pretrained,
        weights_fingerprint=spec.fingerprint,
        dim=encoder.dim,
        frames=options.frames,
        segment_seconds=float(options.segment_seconds),
        segmenter=options.segments,
        max_segment_seconds=float(options.max_segment_seconds) if options.segments == "shots" else None,
        min_segment_seconds=float(options.min_segment_seconds) if options.segments == "shots" else None,
        preprocess=encoder.preprocess.to_dict(),
        library=str(Path(options.library).expanduser().resolve()),
        decoder=options.decoder,
        sampling=SAMPLING,
        prompts=dict(spec.prompts) if spec.prompts else None,
        extra=embedding_record(encoder) | transcriber_record(options.transcriber) | {SCOPE_KEY: scope_record(options)},
    )


SCOPE_KEY = "scope"  # the manifest's extra[...]: the options a later build keeps to where it is not given them


def scope_record(options: BuildOptions) -> dict:
    """The index type asked for and what is scanned and made, for a later build (a job's, the watcher's) to keep to."""
    extensions = sorted(options.extensions) if options.extensions is not None else None
    return {"index_type": options.index_type, "extensions": extensions, "photos": options.photos, "previews": options.previews}


def transcriber_record(transcriber) -> dict:
    """What transcribed the build's speech, where it says (``record()``), for later builds to do alike."""
    from indexer.texts.speech import TRANSCRIBER_KEY

    record = getattr(transcriber, "record", None)
    return {TRANSCRIBER_KEY: record()} if callable(record) else {}


def embedding_record(encoder) -> dict:
    """What ran the image tower for this build: its engine (torch, onnxruntime, openvino: models.engines) and the
    precision it computed in (float32, bfloat16, int8), recorded in the manifest's ``extra``."""
    return {
        "engine": getattr(encoder, "image_engine", "torch"),
        "precision": getattr(encoder, "image_precision", "float32"),
    }


def poster_short_side(encoder) -> int:
    """Frames are decoded at this short side: enough for the model's resize and for the posters."""
    return decode_short_side(encoder.preprocess.resize)


def decode_resample(encoder) -> str:
    """How frames are scaled as they are decoded, from the encoder's preprocessing as the size is
    (:func:`~indexer.clips.decode_resampling`)."""
    return decode_resampling(encoder.preprocess.interpolation)


def batch_size_for(encoder, options: BuildOptions) -> int:
    """Segments per encoder batch: ``options.batch_size``, else the encoder's choice for frames decoded at
    :func:`poster_short_side` (sized to a GPU's memory; 16 on a CPU)."""
    return options.batch_size or encoder.batch_size_for_memory(options.frames, poster_short_side(encoder))
