"""``vidseek search`` and ``vidseek classify``: the server's two questions, asked from the shell, answered in lines
or in the JSON the REST API answers with."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.arguments import add_index_dir, add_model, settings_for
from app.cli.clipsets import add_views, views_of
from app.schemas import DEFAULT_TEMPLATE

SEARCH_KINDS = ("video", "photo")  # app.services.search.KINDS, spelt out: --help loads no torch


def add_query_commands(commands) -> None:
    search = commands.add_parser("search", help="search the index from the shell")
    search.set_defaults(run=cmd_search)
    search.add_argument("query", help="what to look for, in words")
    search.add_argument("-k", type=int, default=8, help="how many results (default: 8)")
    search.add_argument("--kind", choices=SEARCH_KINDS, help="only segments of videos, or only photos (default: both)")
    search.add_argument("--json", action="store_true", help="print JSON like GET /search")
    add_index_dir(search)
    add_model(search, "default: the index's own")

    classify = commands.add_parser("classify", help="zero-shot classify a video file against labels")
    classify.set_defaults(run=cmd_classify)
    classify.add_argument("video", type=Path, help="a video file")
    classify.add_argument("--labels", required=True, help='comma-separated labels, e.g. "dancing,cooking,surfing"')
    classify.add_argument(
        "--template", default=DEFAULT_TEMPLATE, help=f'prompt around each label (default: "{DEFAULT_TEMPLATE}")'
    )
    add_views(classify)
    classify.add_argument("--json", action="store_true", help="print JSON like POST /classify")
    add_index_dir(classify)
    add_model(classify, "default: the index's own, else ViT-B-32 / openai")


def cmd_search(args: argparse.Namespace) -> int:
    import time

    from app.errors import NoIndexError
    from app.present import clock, result_of
    from app.schemas import SearchResponse
    from app.services import VidseekService
    from indexer import read_manifest

    if not args.query.strip():
        raise ValueError("the query is empty")
    if not 1 <= args.k <= 100:
        raise ValueError("-k must be between 1 and 100")
    settings = settings_for(args)
    if read_manifest(settings.index_dir) is None:
        raise NoIndexError.in_dir(settings.index_dir)
    service = VidseekService(settings)
    query = args.query.strip()
    started = time.perf_counter()
    hits, total = service.search_text(query, args.k, kind=args.kind)
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
    from app.services import VidseekService

    labels = clean_labels(args.labels.split(","))
    check_template(args.template)
    views = views_of(args)
    if not args.video.is_file():
        raise FileNotFoundError(f"no such video file: {args.video}")
    service = VidseekService(settings_for(args))
    ranked = service.classify_file(args.video, labels, args.template, views=views)
    if args.json:
        print(json.dumps({"labels": [{"label": l, "score": s, "probability": p} for l, s, p in ranked]}, indent=2))
        return 0
    width = max(len(l) for l, _, _ in ranked)
    for label, score, probability in ranked:
        bar = "#" * round(probability * 40)
        print(f"{label:<{width}}  {probability:6.1%}  cos {score:6.3f}  {bar}")
    return 0
