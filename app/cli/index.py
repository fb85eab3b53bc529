"""``vidseek index build``: the composition root of the build pipeline, the one place that wires settings and
options into the build pipeline (``indexer.pipeline``: local, or on Ray)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.arguments import add_engine, add_index_dir, add_model, given, progress_on, settings_for
from app.cli.frames import add_frames_command
from app.cli.watch import add_watch_command
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED, model_to_load


def add_index_commands(commands) -> None:
    index = commands.add_parser("index", help="build or update an index of a video library")
    index_commands = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = index_commands.add_parser(
        "build",
        help="index a library folder (incremental: only new or changed files are processed)",
        description="Scan LIBRARY recursively (every common video container: mp4, mov, mkv, webm, avi, mts/m2ts, "
        "mpg/vob, wmv, flv, 3gp, mxf, dv...; photos too: jpg, png, webp), probe each file for a video stream, cut "
        "videos into segments along their shots (a photo is a one-frame clip), embed each segment (frames -> CLIP "
        "image encoder -> mean pool) and publish a FAISS index + SQL catalog + posters; then make browser-playable "
        "previews (H.264 MP4) of the videos a browser cannot play as they are, and sprite sheets for hover scrubbing. Re-running "
        "processes only new or changed files and drops deleted ones. A file that cannot be decoded is recorded "
        "with its error and skipped (files that are not media at all are skipped silently); the exit status is 0 "
        "unless every file failed.",
    )
    build.set_defaults(run=cmd_index_build)
    # The three parts add the options in the order --help lists them.
    _add_what_to_index(build)
    _add_how_to_embed(build)
    _add_how_to_run(build)
    add_frames_command(index_commands)
    add_watch_command(index_commands)


def _batch_size(text: str) -> int | None:
    """``--batch-size``: a positive number, or ``auto`` (None: the encoder sizes it)."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of segments or 'auto', not {text!r}")
    return value


def _add_what_to_index(build: argparse.ArgumentParser) -> None:
    # No default= on options that BuildOptions has: its defaults apply (arguments.given).
    build.add_argument("library", type=Path, help="folder of videos")
    add_index_dir(build)
    build.add_argument("--frames", type=int, help="frames sampled per segment (default: 8)")
    build.add_argument(
        "--segments",
        choices=["shots", "fixed"],
        help="how videos are cut: shots (at detected shot boundaries, split and merged to within --max/--min-segment-"
        "seconds) or fixed windows of --segment-seconds (default: shots; an existing index keeps its own)",
    )
    build.add_argument("--segment-seconds", type=float, help="segment length of --segments fixed, in seconds (default: 10)")
    build.add_argument(
        "--max-segment-seconds", type=float, help="--segments shots: a longer shot is split into equal parts (default: 20)"
    )
    build.add_argument(
        "--min-segment-seconds", type=float, help="--segments shots: a shorter shot joins a neighbour (default: 2)"
    )
    add_model(build, f"default: the index's own, else {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    build.add_argument(
        "--batch-size",
        type=_batch_size,
        help="segments per encoder batch, or auto: 16 on a CPU, on a GPU as many as fit in half its free memory "
        "(measured, at most 128) (default: auto)",
    )
    build.add_argument("--workers", type=int, help="decode worker processes (default: one per CPU core)")
    build.add_argument(
        "--rebuild", action="store_true", help="start from an empty index (needed to change model, frames or segment length)"
    )
    build.add_argument(
        "--extensions",
        type=_extensions,
        help="file name endings to scan, comma-separated (mkv,avi,ts), or all: probe every file "
        "(default: the common video containers and, with photos, jpg, jpeg, png, webp, heic)",
    )
    photos = build.add_mutually_exclusive_group()
    photos.add_argument("--no-photos", action="store_true", help="do not index photos (default: photos are one-frame clips)")
    photos.add_argument("--photos", action="store_true", help="index photos again, where the index was built --no-photos")
    build.add_argument(
        "--previews",
        choices=["auto", "all", "off"],
        help="browser-playable previews (H.264 MP4, 360p) and hover-scrubbing sprite sheets: auto makes previews only "
        "of videos a browser cannot play as they are (MPEG-2, MPEG-4 Part 2, HEVC, WMV, MPEG-TS...), all of every "
        "video, off makes neither (default: auto)",
    )


def _add_how_to_embed(build: argparse.ArgumentParser) -> None:
    build.add_argument(
        "--decoder",
        help="pyav (default, the reference), torchcodec (pip install 'vidseek[torchcodec]' and FFmpeg's libraries; "
        "faster where keyframes are dense), decord (checked against pyav on every read), pyav-keyframes (= --fast-seek), "
        "or module:Class",
    )
    build.add_argument(
        "--fast-seek",
        action="store_true",
        help="sample the nearest keyframe instead of the exact frame: decodes keyframes only, several times faster on "
        "long GOPs, frames up to half a GOP off (the index records it; rebuild to switch)",
    )
    build.add_argument(
        "--precision",
        # Written here, not read from models.engines.PRECISIONS: importing it loads torch, and --help must not.
        choices=["auto", "float32", "bfloat16", "int8"],
        default="auto",
        help="the image tower's precision: auto = bfloat16 on CPUs with AVX512-BF16/AMX (2.4x the frames/s of float32, "
        "cosine >= 0.9999), else the model as loaded (float16 autocast on CUDA); int8 (--engine onnxruntime or "
        "openvino, calibrated on frames of the library; cosine >= 0.995) (default: auto)",
    )
    add_engine(build, "image tower", "auto = measured fastest installed for the precision: openvino for int8 (2.4x "
               "torch bfloat16's frames/s for ViT-B-32 on 2 cores), onnxruntime for float32, torch for bfloat16")  # fmt: skip
    build.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="decode and embed on Ray (pip install '.[ray]'): a local instance, or the cluster at ADDRESS "
        "(auto, ray://head:10001)",
    )


def _add_how_to_run(build: argparse.ArgumentParser) -> None:
    build.add_argument(
        "--index-type",
        choices=["auto", "flat", "hnsw", "ivfpq"],
        help="search index: auto picks flat up to 100k segments, then HNSW, then IVF-PQ (default: auto)",
    )
    build.add_argument(
        "--file-timeout", type=float, help="seconds a file may take to decode before it is given up (default: 600)"
    )
    build.add_argument(
        "--checkpoint-seconds",
        type=float,
        help="publish progress this often, so an interrupted build resumes (default: 300)",
    )
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument(
        "--settle-seconds",
        type=float,
        metavar="S",
        help="leave files changed less than S seconds ago (still being written) for a later build (default: 0)",
    )
    build.add_argument(
        "--transcribe",
        type=Path,
        metavar="MODEL_DIR",
        help="transcribe speech into searchable words beside the subtitles, with the faster-whisper model in MODEL_DIR "
        "(a folder on disk, never downloaded; pip install 'vidseek[asr]'); slow on a CPU: hours of speech take hours",
    )
    build.add_argument("--transcribe-language", metavar="LANG", help="the speech's language (en, de, ...); default: detected")
    build.add_argument(
        "--no-transcribe",
        action="store_true",
        help="no speech transcripts, where the index was built with --transcribe (its builds go on transcribing)",
    )
    build.add_argument("--job", type=int, metavar="ID", help=argparse.SUPPRESS)  # run job ID of the index's job store


def _extensions(text: str) -> frozenset[str]:
    from indexer.scan import parse_extensions

    try:
        return parse_extensions(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _transcriber(args: argparse.Namespace, device: str, published):
    """The speech transcriber asked for (``--transcribe``), else the one the index was built with (its manifest
    records it; not after ``--no-transcribe`` or for a ``--rebuild``), or None."""
    from indexer.texts.speech import TRANSCRIBER_KEY

    recorded = None if args.rebuild or published is None else published.extra.get(TRANSCRIBER_KEY)
    if args.no_transcribe or (args.transcribe is None and not recorded):
        return None
    from indexer.texts import FasterWhisper

    if args.transcribe:
        folder, language = args.transcribe, args.transcribe_language
    else:
        folder, language = Path(recorded["model_dir"]), args.transcribe_language or recorded.get("language")
    where = "cuda" if device.startswith("cuda") else device if device == "auto" else "cpu"
    try:
        return FasterWhisper(folder, language, where)
    except (OSError, ValueError, RuntimeError) as why:
        if args.transcribe:
            raise
        raise ValueError(f"the index's speech is transcribed with {folder}, which cannot be used: {why}; give "
                         "--transcribe MODEL_DIR, or --no-transcribe to index without speech") from None  # fmt: skip


CALIBRATION_VIDEOS = 32  # int8 calibration: one segment's frames from each of this many videos of the library


def _embedding_encoder(encoder, args: argparse.Namespace, options, published):
    """The encoder to embed with: its image tower on ``--engine`` in ``--precision`` (models.engines), the exported
    graphs cached beside local weights or under the user's cache folder; int8 calibrated on the library's frames.
    An incremental build left at ``auto`` embeds as its index was built where that was on an engine or in int8 (the
    manifest's ``extra``), and chooses anew, with a warning, where that engine is no longer installed."""
    from app.settings import cache_root
    from models.engines import EngineError, concrete_precision, engine_encoder

    engine, precision = args.engine, args.precision
    recorded = {} if args.rebuild or published is None else published.extra
    chosen = recorded.get("engine", "torch") != "torch" or recorded.get("precision") == "int8"  # not what auto gives
    inherited = engine == precision == "auto" and chosen
    if inherited:
        engine, precision = recorded["engine"], recorded.get("precision", "auto")

    def on(engine: str, precision: str):
        precision = concrete_precision(encoder, precision)
        calibration = _calibration_clips(encoder, options) if precision == "int8" and engine != "torch" else ()
        return engine_encoder(encoder, engine, precision, "image", cache_root() / "engines", calibration)

    try:
        return on(engine, precision)
    except EngineError as why:
        if not inherited:
            raise
        print(f"warning: the index was built with {engine} in {precision}, which cannot run here ({why}): new files "
              "are embedded with --engine auto", file=sys.stderr)  # fmt: skip
        return on("auto", "auto")


def _calibration_clips(encoder, options) -> list:
    """One clip of ``options.frames`` frames from each of up to :data:`CALIBRATION_VIDEOS` videos spread over the
    library (sorted by path), decoded as the build decodes them; files that cannot be read are passed over."""
    from indexer.clips import read_clip
    from indexer.pipeline.options import decode_resample, poster_short_side
    from indexer.scan import VIDEO_KIND, scan_library

    files, _ = scan_library(options.library, options.extensions, photos=False, exclude=[options.index_dir])
    videos = [f for f in files if f.kind == VIDEO_KIND]
    step = max(1, len(videos) // CALIBRATION_VIDEOS)
    short_side, resample = poster_short_side(encoder), decode_resample(encoder)
    clips = []
    for video in videos[::step][:CALIBRATION_VIDEOS]:
        try:
            clips.append(read_clip(str(video.path), options.frames, short_side, resample=resample))
        except Exception:  # noqa: BLE001 - a file the build will record as failed calibrates nothing
            continue
    return clips


def _scope(args: argparse.Namespace, published) -> dict:
    """The index type and what is scanned and made (extensions, photos, previews) as given; those not given, as the
    ``published`` index was built (its manifest records them), so a job's or the watcher's build keeps to them."""
    photos = True if args.photos else False if args.no_photos else None
    chosen = dict(index_type=args.index_type, extensions=args.extensions, photos=photos, previews=args.previews)
    from indexer.pipeline.options import SCOPE_KEY

    recorded = {} if published is None else published.extra.get(SCOPE_KEY, {})
    for name, value in recorded.items():
        if name in chosen and chosen[name] is None and value is not None:
            chosen[name] = frozenset(value) if name == "extensions" else value
    return chosen


def _decoder(args: argparse.Namespace) -> str | None:
    """The decoder to build with; None: BuildOptions' default."""
    if not args.fast_seek:
        return args.decoder
    if args.decoder not in (None, "pyav", "pyav-keyframes"):
        raise ValueError(f"--fast-seek decodes with PyAV's keyframes; it cannot be combined with --decoder {args.decoder}")
    return "pyav-keyframes"


def _segmentation(args: argparse.Namespace, published, index_dir: Path) -> dict:
    """The segment options given; where ``--segments`` is not and an index is ``published`` (not rebuilt), its own
    segmenter and the parameters of it not given, so an index built before shots (fixed) stays incremental."""
    chosen = dict(
        segments=args.segments,
        segment_seconds=args.segment_seconds,
        max_segment_seconds=args.max_segment_seconds,
        min_segment_seconds=args.min_segment_seconds,
    )
    if args.segments is not None or published is None:
        return chosen
    own = getattr(published, "segmenter", "fixed")
    chosen["segments"] = own
    if own == "shots":
        chosen["max_segment_seconds"] = chosen["max_segment_seconds"] or published.max_segment_seconds
        chosen["min_segment_seconds"] = chosen["min_segment_seconds"] or published.min_segment_seconds
    else:  # an index from before shots, or built with --segments fixed: say why this build is not by shots
        print(
            f"note: the index in {index_dir} was cut into {own} segments; keeping them (--segments shots --rebuild to change)",
            file=sys.stderr,
        )
    return chosen


def _as_job(job_id: int, options, run):
    """Run the build ``run`` as job ``job_id`` of the index's job store: its progress told to the store, stopped
    when the job is cancelled, and how it ended recorded (:mod:`app.services.jobs`)."""
    from app.services.jobs import CANCELLED, DONE, FAILED, JobProgress, JobStore

    store = JobStore(options.index_dir)
    progress = JobProgress(store, job_id)
    options.observer = progress
    try:
        with progress:
            report = run()
    except KeyboardInterrupt:
        store.finish(job_id, CANCELLED, error=None if progress.cancelled.is_set() else "interrupted")
        raise
    except BaseException as exc:
        store.finish(job_id, FAILED, error=str(exc) or type(exc).__name__)
        raise
    store.finish(
        job_id,
        DONE,
        file_errors=report.failed,
        indexed=report.indexed,
        segments_embedded=report.segments,
        moved=report.moved,
        removed=report.removed,
        unchanged=report.unchanged,
        summary=report.summary(),
    )
    return report


def cmd_index_build(args: argparse.Namespace) -> int:
    from indexer import read_manifest
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions, batch_size_for
    from indexer.scan import library_folder
    from models import load_encoder

    library_folder(args.library)  # a file or a typo fails here, before the model loads (or is downloaded)
    settings = settings_for(args)
    published = read_manifest(settings.index_dir)
    transcriber = _transcriber(args, settings.device, published)  # a wrong folder fails here, before the model loads
    encoder = load_encoder(*model_to_load(settings, published), settings.device)
    options = BuildOptions(
        library=args.library,
        index_dir=settings.index_dir,
        rebuild=args.rebuild,
        db_url=settings.db_url,
        progress=progress_on(args),
        **given(
            frames=args.frames,
            **_segmentation(args, None if args.rebuild else published, settings.index_dir),
            batch_size=args.batch_size,
            workers=args.workers,
            decoder=_decoder(args),
            file_timeout=args.file_timeout,
            checkpoint_seconds=args.checkpoint_seconds,
            **_scope(args, None if args.rebuild else published),
            settle_seconds=args.settle_seconds,
            transcriber=transcriber,
        ),
    )
    if args.ray is None:
        encoder = _embedding_encoder(encoder, args, options, published)
        options.batch_size = batch_size_for(encoder, options)
        batches = f"{options.batch_size} segments per batch"
        where = f"{encoder.device} in {encoder.image_precision}, {batches}, with {encoder.image_engine}"
    else:
        if args.engine not in ("auto", "torch") or args.precision == "int8":
            raise ValueError("a build on Ray embeds with torch in float32 or bfloat16: leave --engine and --precision int8 out")
        where = f"Ray ({args.ray or 'a local instance'})"
    print(
        f"indexing {args.library} into {settings.index_dir} with {encoder.spec.name}/{encoder.spec.pretrained} on {where}",
        file=sys.stderr,
    )
    if args.ray is None:
        run = lambda: build_index(encoder, options)  # noqa: E731
    else:
        from indexer.pipeline.ray import RayOptions, build_index_on_ray

        ray_options = RayOptions(address=args.ray or None, device=settings.device, precision=args.precision)
        run = lambda: build_index_on_ray(encoder, options, ray_options)  # noqa: E731
    report = run() if args.job is None else _as_job(args.job, options, run)
    print(report.summary())
    if report.files == 0:
        print(f"warning: no video or photo files found in {args.library}", file=sys.stderr)
    return 1 if report.all_failed else 0
