"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from models.prompts import DEFAULT_TEMPLATE  # noqa: F401 (re-exported)

MAX_LABELS = 1000
MAX_LABEL_CHARS = 300


class MomentSpan(BaseModel):
    """A stretch of one video that matched: adjacent matching segments merged (see SearchResult.segments)."""

    start: float = Field(description="where the moment starts (seconds): its first segment's start")
    end: float = Field(description="where it ends: its last segment's end")
    score: float = Field(description="its best segment's cosine")
    segment_id: int = Field(description="its best segment (poster, 'more like this')")
    segments: int = Field(1, description="how many adjacent matching segments it merged")


class Snippet(BaseModel):
    """The words that matched, in context: ``marks`` are [start, end) character ranges of ``text`` to highlight."""

    text: str
    marks: list[tuple[int, int]] = Field(default_factory=list)


class SearchResult(BaseModel):
    segment_id: int = Field(description="the segment; for a moment, its best segment (poster, 'more like this')")
    video_id: int
    title: str
    start: float = Field(description="seconds: the segment's start, or the moment's (its first segment's)")
    end: float = Field(description="seconds: the segment's end, or the moment's (its last segment's)")
    score: float = Field(description="cosine of the query and the segment (a moment's: its best segment's)")
    segments: int = Field(
        1,
        description="how many segments the row merged: adjacent segments of one video among the query's candidates "
        "(their times touch) are one moment; 1 with group=segment",
    )
    kind: Literal["video", "photo"] = Field("video", description="what the file is: a video, or a photo (a one-frame clip)")
    video_url: str | None = Field(
        description="what a browser plays: the video's preview (H.264 in MP4) when it has one, else the file as it is; "
        "null for a photo"
    )
    original_url: str = Field(description="the file as it is in the library (for downloads)")
    image_url: str | None = Field(None, description="a photo as a browser shows it (JPEG, PNG, WebP or GIF); null for a video")
    thumbnail_url: str = Field(description="the segment's poster (JPEG)")
    sprites_url: str | None = Field(
        None, description="the video's WebVTT thumbnails track (cues name tiles of a sprite sheet) for scrubbing; null: none"
    )
    matched: list[str] = Field(
        default_factory=lambda: ["visual"],
        description="why it is a result: visual (its pixels ranked among the query's), and where its words matched: "
        "subtitle (a cue shown during it), name (the file's name or folders), title (its container's title or comment)",
    )
    snippet: Snippet | None = Field(None, description="for a match by words: the words, the matched ones marked")
    moments: list[MomentSpan] | None = Field(
        None,
        description="group=video only: the video's moments among the query's candidates, best first (at most 10); "
        "the row's own start, end, score and segment_id are its best moment's. null otherwise",
    )


Group = Literal["moment", "video", "segment"]


class SearchResponse(BaseModel):
    query: str = Field(description="the words searched for; empty for 'more like this' and image queries")
    mode: Literal["text", "like", "image"] = Field("text", description="what the query was: words, a segment, a picture")
    group: Group = Field(
        "moment",
        description="what a row is: a moment (adjacent matching segments of one video merged), a video (with its "
        "moments) or a single segment",
    )
    ranking: Literal["hybrid", "visual", "text"] = Field(
        "visual",
        description="how the rows were ranked: by pixels (visual), by words (text), or both fused by reciprocal rank "
        "(hybrid: the default of a query in words where the index holds words)",
    )
    like: SearchResult | None = Field(
        None, description="for mode 'like': the segment whose neighbours these are (its score is 1, it is not in results)"
    )
    took_ms: float
    total: int = Field(
        description="how many rows match in all. group=segment: segments in the index, or those scoring at least "
        "min_score when it is given (only those of kind when it is given; for mode 'like', not counting the query "
        "segment). group=moment or video: the moments (videos) among the query's candidates, exact when they hold "
        "every matching segment, else plus the matching segments ranked below them (an upper bound)"
    )
    results: list[SearchResult]


class FacetsResponse(BaseModel):
    """What the indexed files are, for filter controls: the values ``GET /search``'s filters can take, with how
    many indexed files have each (the most common first)."""

    videos: int = Field(description="indexed files (videos and photos)")
    kinds: dict[str, int] = Field(description="files by kind: video, photo")
    codecs: dict[str, int] = Field(description="files by video codec as probed (the codec filter's names)")
    folders: dict[str, int] = Field(
        description="files directly in each folder below the library ('' is its top), the 500 most common (the "
        "folder filter also takes a folder's parents)"
    )
    heights: dict[int, int] = Field(description="files by frame height in pixels (min_height)")
    with_subtitles: int = Field(description="files with subtitle cues (has_subtitles)")
    first_created: datetime | None = Field(description="the oldest file's date (after, before); null: none known")
    last_created: datetime | None = Field(description="the newest file's date")
    shortest: float | None = Field(description="the shortest file's duration in seconds (min_duration, max_duration)")
    longest: float | None = Field(description="the longest file's duration in seconds")


class FileError(BaseModel):
    path: str = Field(description="the file, below the library")
    reason: str


class JobResponse(BaseModel):
    """One indexing job: an incremental build of the library, asked for by a rescan request, a watched folder
    that changed, or a retry."""

    id: int
    kind: Literal["index"] = "index"
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    reason: str = Field(description="why it runs: 'rescan requested', '3 change(s) in the library', 'retry of job 4'")
    retry_of: int | None = None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime = Field(description="when it last said something (its progress, every half second while running)")
    cancel_requested: bool = Field(description="cancelled while running: its build is stopping, the index it began from serves")
    stage: str = Field(description="what it is doing: scanning, indexing (segments), words, previews (videos)")
    done: int = Field(description="units of the stage done: segments while indexing, videos for words and previews")
    total: int = Field(description="units of the stage in all (while indexing it grows as files are planned)")
    files_done: int
    files_total: int = Field(description="files (re)indexed by the indexing stage, of how many")
    eta_seconds: float | None = Field(description="the stage's time left at its rate so far; null: not known yet")
    indexed: int = Field(description="done: files (re)indexed")
    segments_embedded: int = Field(description="done: segments decoded and embedded (0 for moves, renames, deletions)")
    moved: int = Field(description="done: files that moved or were renamed (their segments kept)")
    removed: int = Field(description="done: deleted files taken out of the index")
    unchanged: int
    summary: str = Field(description="done: the build's report")
    error: str | None = Field(description="failed: why")
    file_errors: list[FileError] = Field(description="files that could not be indexed, with why (at most 200)")


class JobsResponse(BaseModel):
    jobs: list[JobResponse] = Field(description="the last 50 jobs, newest first")


class JobRequested(BaseModel):
    job: JobResponse
    new: bool = Field(description="false: a rescan was queued already, and this request joined it (one build for both)")


class TimelineSegment(BaseModel):
    segment_id: int
    start: float
    end: float
    score: float = Field(description="cosine of the query's text vector and the segment's stored vector")


class TimelineResponse(BaseModel):
    """GET /search/timeline: one query's score along a whole video."""

    video_id: int
    title: str
    query: str
    took_ms: float
    segments: list[TimelineSegment] = Field(description="every segment of the video, in time order")
    moments: list[MomentSpan] = Field(
        description="the video's moments among the query's candidates (those GET /search?group=video lists for it), "
        "best first; empty when none of its segments rank among them"
    )


class LabelScore(BaseModel):
    label: str
    score: float = Field(description="cosine similarity of the clip and the prompted label")
    probability: float = Field(description="softmax over the labels of cosine x the model's logit scale")


class LabelRun(BaseModel):
    """A run of consecutive segments with the same top label (the action timeline: app.services.classify.merge_runs)."""

    start: float = Field(description="seconds from the video's start: the run's first segment's start")
    end: float = Field(description="its last segment's end")
    label: str
    score: float = Field(description="the label's mean cosine over the run's segments")
    probability: float = Field(description="the label's mean probability over the run's segments")
    segments: int = Field(description="how many segments the run merges")


class ClassifyResponse(BaseModel):
    labels: list[LabelScore]
    timeline: list[LabelRun] | None = Field(
        None, description="asked for with timeline: the top label over time, runs merged; absent otherwise"
    )


class ClassifyRequest(BaseModel):
    """Classify an indexed segment or video (JSON body); uploads go as multipart instead."""

    segment_id: int | None = Field(None, ge=0, le=2**63 - 1)
    video_id: int | None = Field(None, ge=0, le=2**63 - 1)
    labels: list[str] = Field(min_length=1, max_length=MAX_LABELS)
    template: str = Field(DEFAULT_TEMPLATE, max_length=MAX_LABEL_CHARS)
    timeline: bool = Field(False, description="also classify each segment of the video_id (from its stored vectors)")

    @model_validator(mode="after")
    def _one_target(self) -> "ClassifyRequest":
        if (self.segment_id is None) == (self.video_id is None):
            raise ValueError("give exactly one of segment_id or video_id")
        if self.timeline and self.segment_id is not None:
            raise ValueError("timeline: a segment is one block of its video; send its video_id for a timeline")
        self.labels = clean_labels(self.labels)
        check_template(self.template)
        return self


def clean_labels(labels: list[str]) -> list[str]:
    """Stripped, non-empty, de-duplicated (first occurrence kept) labels; raises ValueError otherwise.

    At most ``MAX_LABELS`` may be given, repeats counted: the count is judged before any work per label, and the
    de-duplication is one pass (a list scan per label made 40,000 labels take 16 s while other requests waited)."""
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    cleaned: dict[str, None] = {}  # insertion-ordered, so the first occurrence keeps its place
    for label in labels:
        label = label.strip()
        if not label:
            raise ValueError("labels must not be empty strings")
        if len(label) > MAX_LABEL_CHARS:
            raise ValueError(f"a label is longer than {MAX_LABEL_CHARS} characters")
        cleaned[label] = None
    if not cleaned:
        raise ValueError("give at least one label")
    return list(cleaned)


def form_labels(values: list[str]) -> list[str]:
    """The labels of a form: each ``labels`` value is comma-separated (or the field repeats). The raw text's length
    and its number of labels are checked before it is split (see :func:`clean_labels`)."""
    if sum(map(len, values)) > MAX_LABELS * (MAX_LABEL_CHARS + 1):
        raise ValueError(f"the labels are longer than {MAX_LABELS * (MAX_LABEL_CHARS + 1):,} characters in all")
    if sum(value.count(",") + 1 for value in values) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    return clean_labels([part for value in values for part in value.split(",")])


def check_template(template: str) -> None:
    if template.count("{}") != 1 or template.replace("{}", "").count("{") or template.replace("{}", "").count("}"):
        raise ValueError("template must contain '{}' exactly once and no other braces, e.g. 'a photo of a {}.'")


class Health(BaseModel):
    status: str
    index: bool
    segments: int
    videos: int
    model: str | None
    generation: str | None
