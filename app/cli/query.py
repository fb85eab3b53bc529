"""``vidseek search`` and ``vidseek classify``: the server's two questions, asked from the shell, answered in lines
or in the JSON the REST API answers with."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.arguments import add_index_dir, add_model, settings_for
from app.cli.clipsets import add_views, views_of
from app.schemas import DEFAULT_TEMPLATE

SEARCH_KINDS = ("video", "photo")  # app.services.search.KINDS, spelt out: --help loads no torch
SEARCH_GROUPS = ("moment", "video", "segment")  # app.services.search.GROUPS, likewise
SEARCH_RANKINGS = ("hybrid", "visual", "text")  # app.services.search.RANKINGS, likewise
SEARCH_SORTS = ("relevance", "date", "duration")  # app.services.search.SORTS, likewise


def add_query_commands(commands) -> None:
    search = commands.add_parser("search", help="search the index from the shell")
    search.set_defaults(run=cmd_search)
    search.add_argument("query", help="what to look for, in words")
    search.add_argument("-k", type=int, default=8, help="how many results (default: 8)")
    search.add_argument("--kind", choices=SEARCH_KINDS, help="only segments of videos, or only photos (default: both)")
    search.add_argument(
        "--group",
        choices=SEARCH_GROUPS,
        default="moment",
        help="one line per moment (adjacent matching segments of a video merged; the default, as GET /search), "
        "per video (its moments' times) or per segment",
    )
    search.add_argument(
        "--mode",
        choices=SEARCH_RANKINGS,
        help="rank by pixels (visual), by the words files carry (text: subtitles, names, titles) or both fused "
        "(hybrid; default: hybrid where the index holds words, as GET /search)",
    )
    search.add_argument(
        "--text-weight", type=float, default=1.0, metavar="W", help="hybrid: the words' weight beside the pixels' (default: 1)"
    )
    add_filters(search)
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
    classify.add_argument(
        "--timeline",
        action="store_true",
        help="classify each segment and print the top label over time, runs of the same label merged (mean scores)",
    )
    classify.add_argument(
        "--segment-seconds",
        type=float,
        metavar="S",
        help="--timeline: fixed windows of S seconds (default: cut as the index cuts videos; without one, by shots)",
    )
    classify.add_argument("--json", action="store_true", help="print JSON like POST /classify")
    add_index_dir(classify)
    add_model(classify, "default: the index's own, else ViT-B-32 / openai")


def add_filters(search) -> None:
    """GET /search's facet filters and sort, as options (the filter is the vector search's own)."""
    search.add_argument("--folder", help="only videos in that folder below the library (and the folders in it)")
    search.add_argument("--after", metavar="DATE", help="only videos made at or after (ISO 8601, UTC unless it says)")
    search.add_argument("--before", metavar="DATE", help="only videos made before")
    search.add_argument("--min-duration", type=float, metavar="S", help="only videos at least S seconds long")
    search.add_argument("--max-duration", type=float, metavar="S", help="only videos at most S seconds long")
    search.add_argument("--min-height", type=int, metavar="PX", help="only videos at least PX pixels high")
    search.add_argument(
        "--subtitles", choices=["yes", "no"], help="only videos with (yes) or without (no) subtitles (default: either)"
    )
    search.add_argument("--codec", metavar="NAMES", help="only videos in these codecs, comma-separated (h264,hevc)")
    search.add_argument("--sort", choices=SEARCH_SORTS, default="relevance", help="rows as ranked (default), newest, longest")


def _video_filter(args: argparse.Namespace):
    """The options' VideoFilter; ValueError (exit 2) for a date that is none."""
    from datetime import UTC, datetime

    from indexer import VideoFilter

    def when(text: str | None, name: str):
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 date or time: {text!r}") from None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    for name in ("min_duration", "max_duration"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be 0 or more, not {value}")
    try:
        codecs = None if args.codec is None else VideoFilter.codec_names(args.codec)
    except ValueError as exc:
        raise ValueError(f"--codec: {exc}") from None
    return VideoFilter(
        folder=args.folder.strip("/ ") if args.folder else None,
        after=when(args.after, "--after"),
        before=when(args.before, "--before"),
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        min_height=args.min_height,
        has_subtitles=None if args.subtitles is None else args.subtitles == "yes",
        codecs=codecs,
    )


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
    videos = _video_filter(args)  # a mistyped date is refused before the model loads
    settings = settings_for(args)
    if read_manifest(settings.index_dir) is None:
        raise NoIndexError.in_dir(settings.index_dir)
    if not 0 <= args.text_weight <= 10:  # also refuses nan
        raise ValueError(f"--text-weight must be between 0 and 10, not {args.text_weight}")
    service = VidseekService(settings)
    query = args.query.strip()
    started = time.perf_counter()
    ranking = service.ranking(args.mode)
    options = dict(
        kind=args.kind,
        group=args.group,
        ranking=ranking,
        text_weight=args.text_weight,
        videos=videos,
        sort=args.sort,
    )
    rows, total = service.search_text(query, args.k, **options)
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:  # the body GET /search answers with
        results = [result_of(row) for row in rows]
        response = SearchResponse(
            query=query, group=args.group, ranking=ranking, took_ms=round(took_ms, 2), total=total, results=results
        )
        print(response.model_dump_json(indent=2))
        return 0
    print(f"{len(rows)} of {total} {args.group}s in {took_ms:.0f} ms ({ranking})")
    for rank, row in enumerate(rows, 1):
        moments = getattr(row, "moments", None) or [row]
        hit = moments[0]
        times = ", ".join(f"{clock(m.start)}-{clock(m.end)}" for m in moments[:10])
        words = f'  "{hit.snippet.text}" ({hit.matched[-1]})' if hit.snippet else ""
        print(f"{rank:>3}  {hit.score:6.3f}  {times}  {hit.segment.path}{words}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from app.schemas import check_template, clean_labels

    labels = clean_labels(args.labels.split(","))
    check_template(args.template)
    views = views_of(args)
    seconds = _segment_seconds(args)
    if not args.video.is_file():
        raise FileNotFoundError(f"no such video file: {args.video}")
    from app.services import VidseekService  # after the checks: a mistyped option is refused before torch loads

    service = VidseekService(settings_for(args))
    if args.timeline:
        return _print_timeline(service, args, labels, views, seconds)
    ranked = service.classify_file(args.video, labels, args.template, views=views)
    if args.json:
        from app.present import classify_response

        print(classify_response(ranked).model_dump_json(indent=2, exclude_none=True))
        return 0
    width = max(len(l) for l, _, _ in ranked)
    for label, score, probability in ranked:
        bar = "#" * round(probability * 40)
        print(f"{label:<{width}}  {probability:6.1%}  cos {score:6.3f}  {bar}")
    return 0


def _segment_seconds(args: argparse.Namespace) -> float | None:
    """``--segment-seconds`` checked (None: not given); ValueError (exit 2) with the reason."""
    seconds = args.segment_seconds
    if seconds is None:
        return None
    if not args.timeline:
        raise ValueError("--segment-seconds applies to --timeline only")
    if not 0.5 <= seconds <= 3600:  # also refuses nan and inf
        raise ValueError(f"--segment-seconds must be between 0.5 and 3600, not {seconds}")
    return seconds


def _print_timeline(service, args: argparse.Namespace, labels: list[str], views, seconds: float | None) -> int:
    """``classify --timeline``: one line per run (its times, label, mean probability and cosine, segment count), or
    with ``--json`` the body POST /classify answers with ``timeline``: the overall ranking and the runs."""
    from app.present import classify_response, clock

    runs = service.classify_file_timeline(args.video, labels, args.template, seconds)
    if args.json:
        ranked = service.classify_file(args.video, labels, args.template, views=views)
        print(classify_response(ranked, runs).model_dump_json(indent=2))
        return 0
    width = max(len(run.label) for run in runs)
    for run in runs:
        times = f"{clock(run.start)}–{clock(run.end)}"
        count = f"{run.segments} segment{'s' if run.segments != 1 else ''}"
        print(f"{times}  {run.label:<{width}}  {run.probability:.2f}  cos {run.score:6.3f}  {count}")
    return 0
