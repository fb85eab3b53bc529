"""``vidseek serve`` (the search page and REST API over an index) and ``vidseek demo`` (the same over a synthetic
library and a tiny model made on the spot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from app.cli.arguments import add_address, add_device, add_engine, add_index_dir, add_model, given, progress_on, settings_for
from app.cli.watch import add_watch_options, library_jobs, watch_settings
from app.settings import Settings, TextPrecision


def add_serve_command(commands) -> None:
    serve = commands.add_parser("serve", help="serve the search page and the REST API")
    serve.set_defaults(run=cmd_serve)
    add_index_dir(serve)
    add_model(serve, "default: the index's own")
    add_address(serve)
    serve.add_argument(
        "--text-precision",
        choices=get_args(TextPrecision),
        help="precision of the text tower for queries (default: auto = bfloat16 on CPUs with AVX512-BF16/AMX, 3x faster "
        "than float32; int8: 2x, CPU only; cosine to float32 >= 0.999 for both)",
    )
    add_engine(
        serve,
        "text tower for queries",
        "auto = onnxruntime for float32 and int8 where installed (2-3x torch's speed for a batch of ViT-B-32 queries), "
        "torch for bfloat16 and on CUDA",
    )
    serve.add_argument(
        "--query-threads", type=int, help="threads for query batches (default: one fewer than the CPU cores, at least 1)"
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        help="keep the index current: watch its library and index new, changed, moved and deleted files as they settle "
        "(each build a job on the Jobs page, run in a process of its own while searches go on)",
    )
    add_watch_options(serve)


def add_demo_command(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="the offline demo: synthetic clips, a fine-tuned tiny model, an index, the search page",
        description="Show the whole product with no download: write a synthetic library of captioned clips, fine-tune "
        "the tiny model on its training split, index the held-out test split with it, report how often a held-out "
        "caption finds its own clip first (R@1), and serve the search page with example queries as suggestions. "
        "Everything is kept under --cache-dir, one folder per settings, and reused by the next run.",
    )
    demo.set_defaults(run=cmd_demo)
    # No default= on options that DemoOptions has: its defaults apply (arguments.given).
    demo.add_argument("--cache-dir", type=Path, help="where the demo keeps its files (default: ~/.cache/vidseek/demo)")
    demo.add_argument("--clips", type=int, help="synthetic clips in all; 10%% are indexed (default: 1000)")
    demo.add_argument("--epochs", type=int, help="fine-tuning epochs (default: 20)")
    demo.add_argument("--frames", type=int, help="frames per clip (default: 8)")
    demo.add_argument("--model", help="model to train from random weights (default: vidseek-tiny)")
    demo.add_argument("--seed", type=int, help="seed of the data and of training (default: 0)")
    add_device(demo)
    add_address(demo)
    demo.add_argument("--no-serve", action="store_true", help="prepare and measure, then exit")
    demo.add_argument("--clean", action="store_true", help="delete everything the demo wrote under --cache-dir, then exit")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")


def cmd_serve(args: argparse.Namespace) -> int:
    from app.main import create_app
    from app.services import VidseekService
    from app.services.jobs import Jobs

    settings = settings_for(args)
    settle, _, _ = watch_settings(args)
    service = VidseekService(settings, query_engine=args.engine)  # load before binding: a bad model or index fails here
    jobs = Jobs(settings.index_dir, settings, settle_seconds=settle)
    background = [library_jobs(settings, None, args, jobs)] if args.watch else []
    serve_app(settings, create_app(settings, service, jobs=jobs, background=background))
    return 0


def serve_app(settings: Settings, app) -> None:
    """Say what is served where, then serve ``app`` until interrupted."""
    import uvicorn

    service = app.state.service
    reader = service.reader
    where = f"{reader.count} segments from {reader.manifest.videos} videos" if reader else "no index yet"
    print(
        f"serving {settings.index_dir} ({where}) with {service.encoder.spec.name} on http://{settings.host}:{settings.port}/",
        file=sys.stderr,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


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
        progress=progress_on(args),
        **given(clips=args.clips, epochs=args.epochs, frames=args.frames, seed=args.seed, model=args.model, device=args.device),
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
    settings = Settings(index_dir=result.index_dir, **given(host=args.host, port=args.port))
    serve_app(settings, demo_app(result, settings))
    return 0
