"""The ``vidseek`` command: build/update an index, serve it, search and classify from the shell.

This is the composition root: the only place that wires settings into the build pipeline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from app import __version__
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED, Settings

log = logging.getLogger("vidseek")


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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    _add_model(build, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    build.add_argument("--batch-size", type=int, default=16, help="segments per encoder batch (default: 16)")
    build.add_argument("--workers", type=int, help="decode worker processes (default: one per CPU core)")
    build.add_argument(
        "--rebuild", action="store_true", help="start from an empty index (needed to change model, frames or segment length)"
    )
    build.add_argument("--no-progress", action="store_true", help="no progress bar")

    serve = commands.add_parser("serve", help="serve the search page and the REST API")
    _add_index_dir(serve)
    _add_model(serve, "default: the index's own")
    serve.add_argument("--host", help="bind address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: 8000)")

    search = commands.add_parser("search", help="search the index from the shell")
    search.add_argument("query", help="what to look for, in words")
    search.add_argument("-k", type=int, default=8, help="how many results (default: 8)")
    search.add_argument("--json", action="store_true", help="print JSON like GET /search")
    _add_index_dir(search)
    _add_model(search, "default: the index's own")

    classify = commands.add_parser("classify", help="zero-shot classify a video file against labels")
    classify.add_argument("video", type=Path, help="a video file")
    classify.add_argument("--labels", required=True, help='comma-separated labels, e.g. "dancing,cooking,surfing"')
    classify.add_argument("--template", default="a photo of a {}.", help='prompt around each label (default: "a photo of a {}.")')
    classify.add_argument("--json", action="store_true", help="print JSON like POST /classify")
    _add_index_dir(classify)
    _add_model(classify, "default: the index's own, else ViT-B-32 / openai")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        key: value
        for key in ("index_dir", "db_url", "model", "pretrained", "device", "host", "port")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def cmd_index_build(args: argparse.Namespace) -> int:
    from indexer.build import BuildOptions, build_index
    from models import load_encoder

    settings = _settings(args)
    encoder = load_encoder(settings.model or DEFAULT_MODEL, settings.pretrained or DEFAULT_PRETRAINED, settings.device)
    options = BuildOptions(
        library=args.library,
        index_dir=settings.index_dir,
        frames=args.frames,
        segment_seconds=args.segment_seconds,
        batch_size=args.batch_size,
        workers=args.workers,
        rebuild=args.rebuild,
        db_url=settings.db_url,
        progress=not args.no_progress and (sys.stderr.isatty() or os.environ.get("VIDSEEK_PROGRESS") == "1"),
    )
    print(
        f"indexing {args.library} into {settings.index_dir} "
        f"with {encoder.spec.name}/{encoder.spec.pretrained} on {encoder.device}",
        file=sys.stderr,
    )
    report = build_index(encoder, options)
    print(report.summary())
    if report.files == 0:
        print(f"warning: no video files found in {args.library}", file=sys.stderr)
    return 1 if report.all_failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.services import VidseekService

    settings = _settings(args)
    service = VidseekService(settings)  # load before binding, so a bad model or index fails right here
    reader = service.reader
    where = f"{reader.count} segments from {reader.manifest.videos} videos" if reader else "no index yet"
    print(
        f"serving {settings.index_dir} ({where}) with {service.encoder.spec.name} on http://{settings.host}:{settings.port}/",
        file=sys.stderr,
    )
    uvicorn.run(create_app(settings, service), host=settings.host, port=settings.port, log_level="info")
    return 0


def _open_service(args: argparse.Namespace):
    from app.services import VidseekService

    return VidseekService(_settings(args))


def cmd_search(args: argparse.Namespace) -> int:
    import time

    from app.routes.search import result_of
    from app.services import NoIndexError, VidseekService
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
    started = time.perf_counter()
    hits, total = service.search_text(args.query.strip(), args.k)
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:
        print(
            json.dumps(
                {
                    "query": args.query,
                    "took_ms": round(took_ms, 2),
                    "total": total,
                    "results": [result_of(h).model_dump() for h in hits],
                },
                indent=2,
            )
        )
        return 0
    print(f"{len(hits)} of {total} segments in {took_ms:.0f} ms")
    for rank, hit in enumerate(hits, 1):
        s = hit.segment
        print(f"{rank:>3}  {hit.score:6.3f}  {_clock(s.start)}-{_clock(s.end)}  {s.path}")
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


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


COMMANDS = {"serve": cmd_serve, "search": cmd_search, "classify": cmd_classify}


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
        print(f"vidseek: error: {_message(exc)}", file=sys.stderr)
        return 2


def _message(exc: Exception) -> str:
    from app.services import NoIndexError
    from indexer.decode import DecodeError
    from indexer.store import IndexError_
    from models import ModelError

    known = (ModelError, IndexError_, DecodeError, NoIndexError, ValueError, FileNotFoundError, NotADirectoryError)
    if isinstance(exc, known):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (run with -v for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
