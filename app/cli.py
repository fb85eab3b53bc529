"""The ``vidseek`` command: build/update an index, serve it, search and classify from the shell.

This is the composition root: the only place that wires settings into the build pipeline.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
from pathlib import Path
from typing import get_args

from app import __version__
from app.schemas import DEFAULT_TEMPLATE
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED, Settings, TextPrecision, cache_root, model_to_load

log = logging.getLogger("vidseek")


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


class _CommandParser(argparse.ArgumentParser):
    """The parser of a command (``index build``, ``search``, ...): it reports the options it does not know itself,
    with its own usage and the nearest option it has. argparse leaves them to the top-level parser, whose usage
    names no option of the command the user was typing."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, unknown = super().parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}{self._nearest_option(unknown)}")
        return namespace, unknown

    def _nearest_option(self, unknown: list[str]) -> str:
        typed = next((arg.partition("=")[0] for arg in unknown if arg.startswith("--")), None)
        close = difflib.get_close_matches(typed, list(self._option_string_actions), n=1) if typed else []
        return f" (did you mean {close[0]}?)" if close else ""


def _add_index_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", type=Path, help="index folder (default: $VIDSEEK_INDEX_DIR or ./vidseek-index)")
    parser.add_argument(
        "--db-url", help="SQLAlchemy URL of an external catalog, e.g. postgresql+psycopg://... (default: SQLite inside the index)"
    )


def _add_model(parser: argparse.ArgumentParser, default_hint: str) -> None:
    parser.add_argument("--model", help=f"open_clip model name, e.g. ViT-B-32, ViT-B-16, vidseek-tiny ({default_hint})")
    parser.add_argument(
        "--pretrained",
        help=f"open_clip pretrained tag (openai, laion2b_s34b_b79k, ...), a local weights file, or 'none' ({default_hint})",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs (default: auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidseek",
        description="Text-to-video retrieval over a folder of videos: index it once, then search it with words "
        "in a browser, over REST, or from this command line. Settings also come from VIDSEEK_* variables.",
    )
    parser.add_argument("--version", action="version", version=f"vidseek {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser)

    index = commands.add_parser("index", help="build or update an index of a video library")
    index_commands = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = index_commands.add_parser(
        "build",
        help="index a library folder (incremental: only new or changed files are processed)",
        description="Scan LIBRARY recursively (mp4, m4v, mov, mkv, webm, avi), split videos into segments, embed "
        "each segment (frames -> CLIP image encoder -> mean pool) and publish a FAISS index + SQL catalog + "
        "posters. Re-running processes only new or changed files and drops deleted ones. A file that cannot "
        "be decoded is recorded with its error and skipped; the exit status is 0 unless every file failed.",
    )
    build.add_argument("library", type=Path, help="folder of videos")
    _add_index_dir(build)
    build.add_argument("--frames", type=int, default=8, help="frames sampled per segment (default: 8)")
    build.add_argument("--segment-seconds", type=float, default=10.0, help="segment length in seconds (default: 10)")
    _add_model(build, f"default: the index's own, else {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
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
        "--decoder",
        default="pyav",
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
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="the image tower's precision: auto = bfloat16 on CPUs with AVX512-BF16/AMX (2.4x the frames/s of float32, "
        "cosine >= 0.9999), else the model as loaded (float16 autocast on CUDA) (default: auto)",
    )
    build.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="decode and embed on Ray (pip install '.[ray]'): a local instance, or the cluster at ADDRESS "
        "(auto, ray://head:10001)",
    )
    build.add_argument(
        "--index-type",
        default="auto",
        choices=["auto", "flat", "hnsw", "ivfpq"],
        help="search index: auto picks flat up to 100k segments, then HNSW, then IVF-PQ (default: auto)",
    )
    build.add_argument(
        "--file-timeout", type=float, default=600.0, help="seconds a file may take to decode before it is given up (default: 600)"
    )
    build.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=300.0,
        help="publish progress this often, so an interrupted build resumes (default: 300)",
    )
    build.add_argument("--no-progress", action="store_true", help="no progress bar")

    serve = commands.add_parser("serve", help="serve the search page and the REST API")
    _add_index_dir(serve)
    _add_model(serve, "default: the index's own")
    serve.add_argument("--host", help="bind address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: 8000)")
    serve.add_argument(
        "--text-precision",
        choices=get_args(TextPrecision),
        help="precision of the text tower for queries (default: auto = bfloat16 on CPUs with AVX512-BF16/AMX, 3x faster "
        "than float32; int8: 2x, CPU only; cosine to float32 >= 0.999 for both)",
    )
    serve.add_argument(
        "--query-threads", type=int, help="threads for query batches (default: one fewer than the CPU cores, at least 1)"
    )

    search = commands.add_parser("search", help="search the index from the shell")
    search.add_argument("query", help="what to look for, in words")
    search.add_argument("-k", type=int, default=8, help="how many results (default: 8)")
    search.add_argument("--json", action="store_true", help="print JSON like GET /search")
    _add_index_dir(search)
    _add_model(search, "default: the index's own")

    classify = commands.add_parser("classify", help="zero-shot classify a video file against labels")
    classify.add_argument("video", type=Path, help="a video file")
    classify.add_argument("--labels", required=True, help='comma-separated labels, e.g. "dancing,cooking,surfing"')
    classify.add_argument(
        "--template", default=DEFAULT_TEMPLATE, help=f'prompt around each label (default: "{DEFAULT_TEMPLATE}")'
    )
    classify.add_argument("--json", action="store_true", help="print JSON like POST /classify")
    _add_index_dir(classify)
    _add_model(classify, "default: the index's own, else ViT-B-32 / openai")
    _add_model_commands(commands)
    _add_db_commands(commands)
    return parser


def _add_db_commands(commands) -> None:
    db = commands.add_parser(
        "db",
        help="inspect or migrate the catalog's schema",
        description="The SQL catalog's schema is versioned (Alembic revisions shipped inside vidseek). 'index build' "
        "migrates the catalog it writes; the server only reads, and refuses a catalog at another revision. After "
        "installing a newer vidseek, 'db upgrade' migrates an existing index's catalog (SQLite inside the index, or "
        "the --db-url / VIDSEEK_DB_URL database).",
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("upgrade", "migrate the catalog to this vidseek's schema revision (creates the schema in an empty database)"),
        ("current", "print the catalog's schema revision and this vidseek's (exit status 1 if they differ)"),
    ):
        action = db_commands.add_parser(name, help=help_text, description=help_text)
        where = action.add_mutually_exclusive_group()
        where.add_argument("--db-url", help="SQLAlchemy URL of the catalog database (default: $VIDSEEK_DB_URL)")
        where.add_argument(
            "--index-dir", type=Path, help="the index whose catalog to use (default: $VIDSEEK_INDEX_DIR or ./vidseek-index)"
        )


def _add_clip_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per clip (default: 8)")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, help=f'prompt around labels (default: "{DEFAULT_TEMPLATE}")')
    parser.add_argument(
        "--fusion",
        choices=["embedding", "decision", "image"],
        default="embedding",
        help="how frames become a video vector: embedding (mean-pooled frame embeddings, ViFi-CLIP; "
        "what the index uses), decision (averaged per-frame scores), image (averaged pixels)",
    )
    parser.add_argument("--cache-dir", type=Path, help="decoded-frame cache (default: $XDG_CACHE_HOME/vidseek/frames)")
    parser.add_argument("--workers", type=int, help="decode worker processes (default: one per CPU core)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch (default: 32)")
    parser.add_argument(
        "--base",
        default="auto",
        help="base CLIP weights for keys a ViFi-CLIP checkpoint lacks (token_embedding): auto (the "
        "model's openai weights), a tag, a local file, or none",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_model_commands(commands) -> None:
    finetune = commands.add_parser(
        "finetune",
        help="fine-tune the video encoder on captioned or labelled videos",
        description="Fine-tune both CLIP encoders the ViFi-CLIP way (frames encoded independently and mean-pooled, "
        "symmetric contrastive loss with the learned temperature, AdamW, cosine schedule with warm-up) on TRAIN, a "
        "CSV/JSONL file with columns video,caption or video,label (optional start,end in seconds; paths relative to "
        "the file). Writes --out after every epoch (loadable with --pretrained OUT) and a JSON log beside it. Decoded "
        "frames are cached, so later epochs and runs do not decode again; a video that cannot be decoded is "
        "reported and skipped.",
    )
    finetune.add_argument("train", type=Path, help="training set (.csv or .jsonl)")
    finetune.add_argument(
        "--out", type=Path, required=True, help="checkpoint to write (safetensors, whatever the name: e.g. finetuned.safetensors)"
    )
    _add_model(finetune, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    _add_clip_data(finetune)
    finetune.add_argument(
        "--target",
        choices=["auto", "caption", "label"],
        default="auto",
        help="train on captions or on labels wrapped in --template (default: captions when present)",
    )
    finetune.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    finetune.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default: 8e-6, ViFi-CLIP's, for pretrained weights; 1e-3 with "
        "--pretrained none, where the text encoder has to learn the vocabulary from scratch)",
    )
    finetune.add_argument("--weight-decay", type=float, default=1e-3, help="AdamW weight decay (default: 1e-3)")
    finetune.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up length (default: 1 epoch)")
    finetune.add_argument("--accumulation", type=int, default=1, help="batches per optimizer step (default: 1)")
    finetune.add_argument(
        "--freeze",
        choices=["text", "image"],
        help="keep one encoder fixed: 'text' = image-only FT, 'image' = text-only FT (paper ablations)",
    )
    finetune.add_argument("--seed", type=int, default=0, help="seed of the shuffling and of random initialisation (default: 0)")
    finetune.add_argument("--resume", action="store_true", help="continue from --out if it holds an interrupted run")
    finetune.add_argument("--val", type=Path, help="a labelled/captioned set to evaluate after every epoch (into the log)")
    finetune.add_argument("--log", type=Path, help="JSON log of losses/metrics per epoch (default: OUT with .log.json)")

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval (R@1/5/10, MedR, MnR) and zero-shot classification on a test set",
        description="Embed every clip of TEST (CSV/JSONL: video and caption and/or label columns) and report text->video "
        "and video->text retrieval over the distinct captions, and zero-shot top-1/top-5 over the distinct labels.",
    )
    evaluate.add_argument("test", type=Path, help="test set (.csv or .jsonl)")
    _add_model(evaluate, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    _add_clip_data(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seed of random initialisation with --pretrained none, as in finetune (default: 0)"
    )

    synth = commands.add_parser(
        "synth",
        help="generate a synthetic captioned video benchmark (train.csv, test.csv)",
        description="Write N short H.264 clips of coloured shapes moving over plain backgrounds, with captions and labels, "
        "split into OUT_DIR/train.csv and OUT_DIR/test.csv (columns video,caption,label). Some colour+shape pairs "
        "appear only in test, and no test caption appears in training.",
    )
    synth.add_argument("out_dir", type=Path, help="folder to write into")
    synth.add_argument("--n", type=int, default=1200, help="clips in all (default: 1200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--test-fraction", type=float, default=0.2, help="share of clips in test (default: 0.2)")
    synth.add_argument("--two-objects", type=float, default=0.2, help="share of clips with two objects (default: 0.2)")
    synth.add_argument("--workers", type=int, help="encoder processes (default: one per CPU core)")

    demo = commands.add_parser(
        "demo",
        help="the offline demo: synthetic clips, a fine-tuned tiny model, an index, the search page",
        description="Show the whole product with no download: write a synthetic library of captioned clips, fine-tune "
        "the tiny model on its training split, index the held-out test split with it, report how often a held-out "
        "caption finds its own clip first (R@1), and serve the search page with example queries as suggestions. "
        "Everything is kept under --cache-dir, one folder per settings, and reused by the next run.",
    )
    demo.add_argument("--cache-dir", type=Path, help="where the demo keeps its files (default: ~/.cache/vidseek/demo)")
    demo.add_argument("--clips", type=int, default=1000, help="synthetic clips in all; 10%% are indexed (default: 1000)")
    demo.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs (default: 20)")
    demo.add_argument("--frames", type=int, default=8, help="frames per clip (default: 8)")
    demo.add_argument("--model", default="vidseek-tiny", help="model to train from random weights (default: vidseek-tiny)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and of training (default: 0)")
    demo.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs (default: auto)")
    demo.add_argument("--host", help="bind address (default: 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port (default: 8000)")
    demo.add_argument("--no-serve", action="store_true", help="prepare and measure, then exit")
    demo.add_argument("--clean", action="store_true", help="delete everything the demo wrote under --cache-dir, then exit")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    model = commands.add_parser("model", help="inspect weights files")
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    inspect = model_commands.add_parser(
        "inspect",
        help="say what a weights file holds (format, shapes, preprocessing) and whether it fits a model",
        description="Detect the layout of a weights file (open_clip state dict, released ViFi-CLIP checkpoint, vidseek "
        "fine-tune) and print what was found. With --model, also load it into that architecture.",
    )
    inspect.add_argument("path", type=Path, help="a .pt/.pth/.bin/.safetensors file")
    inspect.add_argument("--model", help="check that the file loads into this open_clip model")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        key: value
        for key in ("index_dir", "db_url", "model", "pretrained", "device", "host", "port", "text_precision", "query_threads")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def cmd_index_build(args: argparse.Namespace) -> int:
    from indexer.build import BuildOptions, batch_size_for, build_index
    from indexer.scan import library_folder
    from indexer.store import read_manifest
    from models import load_encoder
    from models.quantize import image_encoder_at, image_precision

    library_folder(args.library)  # a file or a typo fails here, before the model loads (or is downloaded)
    settings = _settings(args)
    encoder = load_encoder(*model_to_load(settings, read_manifest(settings.index_dir)), settings.device)
    options = BuildOptions(
        library=args.library,
        index_dir=settings.index_dir,
        frames=args.frames,
        segment_seconds=args.segment_seconds,
        batch_size=args.batch_size,
        workers=args.workers,
        rebuild=args.rebuild,
        db_url=settings.db_url,
        decoder=_decoder(args),
        index_type=args.index_type,
        file_timeout=args.file_timeout,
        checkpoint_seconds=args.checkpoint_seconds,
        progress=_progress_on(args),
    )
    if args.ray is None:
        encoder = image_encoder_at(encoder, args.precision)
        options.batch_size = batch_size_for(encoder, options)
        where = f"{encoder.device} in {image_precision(encoder)}, {options.batch_size} segments per batch"
    else:
        where = f"Ray ({args.ray or 'a local instance'})"
    print(
        f"indexing {args.library} into {settings.index_dir} with {encoder.spec.name}/{encoder.spec.pretrained} on {where}",
        file=sys.stderr,
    )
    if args.ray is None:
        report = build_index(encoder, options)
    else:
        from indexer.ray_build import RayOptions, build_index_on_ray

        ray_options = RayOptions(address=args.ray or None, device=settings.device, precision=args.precision)
        report = build_index_on_ray(encoder, options, ray_options)
    print(report.summary())
    if report.files == 0:
        print(f"warning: no video files found in {args.library}", file=sys.stderr)
    return 1 if report.all_failed else 0


def cmd_db(args: argparse.Namespace) -> int:
    from indexer.catalog import catalog_revision, describe_url, head_revision, revision_problem, upgrade_catalog
    from indexer.store import index_catalog_revision, upgrade_index_catalog

    settings = _settings(args)
    # A database URL (--db-url, or VIDSEEK_DB_URL without --index-dir) names the catalog itself; otherwise the
    # index's manifest says where its catalog is (its own SQLite file, or the VIDSEEK_DB_URL database).
    url = settings.db_url if args.index_dir is None else None
    where = describe_url(url) if url else f"the catalog of {settings.index_dir}"
    head = head_revision()
    if args.db_command == "upgrade":
        before, after = upgrade_catalog(url) if url else upgrade_index_catalog(settings.index_dir, settings.db_url)
        change = "already at" if before == after else f"upgraded from {before or 'no revision'} to"
        print(f"{where}: {change} revision {after}")
        return 0
    current = catalog_revision(url) if url else index_catalog_revision(settings.index_dir, settings.db_url)
    print(f"{where}: revision {current or 'none'}; this vidseek's is {head}")
    upgrade = f"vidseek db upgrade --db-url '{where}'" if url else f"vidseek db upgrade --index-dir {settings.index_dir}"
    problem = revision_problem(current, upgrade)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def _decoder(args: argparse.Namespace) -> str:
    if not args.fast_seek:
        return args.decoder
    if args.decoder not in ("pyav", "pyav-keyframes"):
        raise ValueError(f"--fast-seek decodes with PyAV's keyframes; it cannot be combined with --decoder {args.decoder}")
    return "pyav-keyframes"


def cmd_serve(args: argparse.Namespace) -> int:
    from app.main import create_app
    from app.services import VidseekService

    settings = _settings(args)
    service = VidseekService(settings)  # load before binding, so a bad model or index fails right here
    _serve(settings, create_app(settings, service))
    return 0


def _serve(settings: Settings, app) -> None:
    import uvicorn

    service = app.state.service
    reader = service.reader
    where = f"{reader.count} segments from {reader.manifest.videos} videos" if reader else "no index yet"
    print(
        f"serving {settings.index_dir} ({where}) with {service.encoder.spec.name} on http://{settings.host}:{settings.port}/",
        file=sys.stderr,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def _open_service(args: argparse.Namespace):
    from app.services import VidseekService

    return VidseekService(_settings(args))


def cmd_search(args: argparse.Namespace) -> int:
    import time

    from app.errors import NoIndexError
    from app.present import clock, result_of
    from app.schemas import SearchResponse
    from app.services import VidseekService
    from indexer.store import read_manifest

    if not args.query.strip():
        raise ValueError("the query is empty")
    if not 1 <= args.k <= 100:
        raise ValueError("-k must be between 1 and 100")
    settings = _settings(args)
    if read_manifest(settings.index_dir) is None:
        raise NoIndexError(
            f"no index in {settings.index_dir}: build one with 'vidseek index build LIBRARY --index-dir {settings.index_dir}'"
        )
    service = VidseekService(settings)
    query = args.query.strip()
    started = time.perf_counter()
    hits, total = service.search_text(query, args.k)
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:  # the body GET /search answers with
        response = SearchResponse(query=query, took_ms=round(took_ms, 2), total=total, results=[result_of(h) for h in hits])
        print(response.model_dump_json(indent=2))
        return 0
    print(f"{len(hits)} of {total} segments in {took_ms:.0f} ms")
    for rank, hit in enumerate(hits, 1):
        s = hit.segment
        print(f"{rank:>3}  {hit.score:6.3f}  {clock(s.start)}-{clock(s.end)}  {s.path}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from app.schemas import check_template, clean_labels

    labels = clean_labels(args.labels.split(","))
    check_template(args.template)
    if not args.video.is_file():
        raise FileNotFoundError(f"no such video file: {args.video}")
    service = _open_service(args)
    ranked = service.classify_file(args.video, labels, args.template)
    if args.json:
        print(json.dumps({"labels": [{"label": l, "score": s, "probability": p} for l, s, p in ranked]}, indent=2))
        return 0
    width = max(len(l) for l, _, _ in ranked)
    for label, score, probability in ranked:
        bar = "#" * round(probability * 40)
        print(f"{label:<{width}}  {probability:6.1%}  cos {score:6.3f}  {bar}")
    return 0


def _cache_dir(args: argparse.Namespace) -> Path:
    if args.cache_dir is not None:
        return args.cache_dir
    return cache_root() / "frames"


def _progress_on(args: argparse.Namespace) -> bool:
    # Off a terminal the progress helper prints a line every 30 s instead of a bar: long runs with stderr in a
    # log file still say how far they are.
    return not args.no_progress


def _load_clip_set(path: Path, encoder, args: argparse.Namespace):
    from indexer.dataset import load_clips, read_examples

    clip_set = load_clips(
        read_examples(path),
        args.frames,
        encoder.preprocess.resize,
        encoder.preprocess.interpolation,
        cache_dir=_cache_dir(args),
        workers=args.workers or max(1, os.cpu_count() or 1),
        progress=_progress_on(args),
    )
    for video, reason in clip_set.failed:
        print(f"skipped {video}: {reason}", file=sys.stderr)
    if not clip_set.clips:
        raise ValueError(f"no video in {path} could be decoded")
    return clip_set


def _encoder_for(args: argparse.Namespace):
    import torch

    from models import load_encoder

    torch.manual_seed(args.seed)  # --pretrained none: eval and finetune start from the same random weights

    settings = _settings(args)
    model, pretrained = settings.model or DEFAULT_MODEL, settings.pretrained or DEFAULT_PRETRAINED
    return load_encoder(model, pretrained, settings.device, base=args.base)


def _metrics(encoder, clip_set, args: argparse.Namespace) -> dict:
    from models.evaluate import evaluate

    examples = clip_set.examples
    return evaluate(
        encoder,
        clip_set.clips,
        [e.key for e in examples],
        [e.caption for e in examples],
        [e.label for e in examples],
        template=args.template,
        fusion=args.fusion,
        batch_size=args.batch_size,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    encoder = _encoder_for(args)
    clip_set = _load_clip_set(args.test, encoder, args)
    result = {
        "model": encoder.spec.name,
        "pretrained": encoder.spec.pretrained,
        "clips": len(clip_set.clips),
        "skipped": len(clip_set.failed),
        **_metrics(encoder, clip_set, args),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']} / {result['pretrained']}: {result['clips']} clips ({result['skipped']} skipped)", end="")
    print(f", fusion {args.fusion}")
    if "t2v_r1" in result:
        print(f"  videos {result['videos']}, captions {result['queries']} (chance R@1 {result['chance_r1']:.4f})")
        for d in ("t2v", "v2t"):
            print(
                f"  {d}: R@1 {result[f'{d}_r1']:.3f}  R@5 {result[f'{d}_r5']:.3f}  R@10 {result[f'{d}_r10']:.3f}  "
                f"MedR {result[f'{d}_medr']:g}  MnR {result[f'{d}_mnr']:.1f}"
            )
    if "zs_top1" in result:
        print(f"  zero-shot over {result['labels']} labels: top-1 {result['zs_top1']:.3f}  top-5 {result['zs_top5']:.3f}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from indexer.progress import progress_bar
    from models.finetune import FinetuneOptions, finetune

    encoder = _encoder_for(args)
    clip_set = _load_clip_set(args.train, encoder, args)
    target = args.target
    if target == "auto":
        target = "caption" if all(e.caption for e in clip_set.examples) else "label"
    missing = [e for e in clip_set.examples if not (e.caption if target == "caption" else e.label)]
    if missing:
        raise ValueError(f"{len(missing)} row(s) of {args.train} have no {target} (first: {missing[0].video})")
    lr = args.lr if args.lr is not None else (1e-3 if encoder.spec.pretrained == "none" else 8e-6)
    options = FinetuneOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        accumulation=args.accumulation,
        freeze=args.freeze,
        fusion=args.fusion,
        seed=args.seed,
    )
    on_epoch = None
    if args.val is not None:
        val_set = _load_clip_set(args.val, encoder, args)
        on_epoch = lambda epoch: {"val": _metrics(encoder, val_set, args)}  # noqa: E731
    print(
        f"fine-tuning {encoder.spec.name}/{encoder.spec.pretrained} on {len(clip_set.clips)} clips ({target}s), "
        f"{options.epochs} epochs, lr {options.lr:g}, on {encoder.device} "
        f"({clip_set.cached} clips from the frame cache, {len(clip_set.failed)} skipped)",
        file=sys.stderr,
    )
    log_path = args.log or args.out.with_suffix(".log.json")
    history = finetune(
        encoder,
        clip_set.clips,
        clip_set.texts(target, args.template),
        options,
        args.out,
        resume=args.resume,
        on_epoch=on_epoch,
        progress=progress_bar if _progress_on(args) else False,
        extra={
            "train": str(args.train),
            "target": target,
            "template": args.template,
            "frames": args.frames,
            "skipped": clip_set.failed,
        },
        log_path=log_path,
    )
    last = history[-1] if history else {}
    print(f"wrote {args.out} (epoch {last.get('epoch')}, loss {last.get('loss', float('nan')):.4f}) and {log_path}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from indexer.synth import SynthOptions, generate

    if args.n < 2:
        raise ValueError("--n must be at least 2")
    options = SynthOptions(
        n=args.n, seed=args.seed, test_fraction=args.test_fraction, two_object_fraction=args.two_objects, workers=args.workers
    )
    report = generate(args.out_dir, options)
    print(f"wrote {report.train} training and {report.test} test clips to {args.out_dir}")
    print(f"  {report.train_csv}\n  {report.test_csv}")
    print(f"  colour+shape pairs only in test: {', '.join(report.held_out)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import shutil

    from app.demo import DemoOptions, default_cache_dir, demo_app, run_demo

    cache_dir = args.cache_dir or default_cache_dir()
    if args.clean:
        shutil.rmtree(cache_dir, ignore_errors=True)
        print(f"removed {cache_dir}")
        return 0
    options = DemoOptions(
        cache_dir=cache_dir,
        clips=args.clips,
        epochs=args.epochs,
        frames=args.frames,
        seed=args.seed,
        model=args.model,
        device=args.device or "auto",
        progress=_progress_on(args),
    )
    say = lambda line: print(line, file=sys.stderr)  # noqa: E731
    say(
        "vidseek demo: a synthetic library of captioned clips and a tiny model fine-tuned on it, made here with no download "
        f"(kept in {options.folder}).\n"
        "  Your own videos instead: make serve LIBRARY=/path/to/videos [PRETRAINED=openai|/path/to/weights.pt]"
    )
    result = run_demo(options, say)
    if result.reused:
        say(f"reused from {result.folder}: {', '.join(result.reused)}")
    print(
        f"demo index: {result.test_clips} held-out clips; a held-out caption finds its own clip first "
        f"(R@1) {result.r1:.2f} of the time (chance {result.chance_r1:.3f})"
    )
    print("example queries shown on the page (held-out captions answered with their own clip first):")
    print("\n".join(f"  {query}" for query in result.suggestions))
    if args.no_serve:
        return 0
    settings = Settings(index_dir=result.index_dir, **{k: v for k in ("host", "port") if (v := getattr(args, k)) is not None})
    _serve(settings, demo_app(result, settings))
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from models import load_encoder
    from models.checkpoints import read_weights

    weights = read_weights(args.path)
    print("\n".join(weights.summary()))
    if args.model:
        encoder = load_encoder(args.model, str(args.path), "cpu", base="none")
        print(f"fits:        {args.model} (loads; preprocess {encoder.preprocess.to_dict()})")
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "search": cmd_search,
    "classify": cmd_classify,
    "finetune": cmd_finetune,
    "eval": cmd_eval,
    "synth": cmd_synth,
    "model": cmd_model,
    "db": cmd_db,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handler = cmd_index_build if args.command == "index" else COMMANDS[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted: the previous index is still the published one", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: every known failure becomes one clear line
        if args.verbose:
            raise
        from app.errors import EXIT_ERROR, cli_message  # here: importing the models' errors loads torch

        print(f"vidseek: error: {cli_message(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
