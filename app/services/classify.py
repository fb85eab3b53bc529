"""Zero-shot classification: an uploaded video file, an indexed segment (its stored vector) or a whole indexed video
(its checked file, decoded again), ranked against labels by the float model."""

from __future__ import annotations

from pathlib import Path

from app.errors import NotFoundError
from app.services.current_index import CurrentIndex
from app.services.library import LibraryBrowser
from indexer import PHOTO_KIND
from indexer.clips import decode_resampling, decode_short_side, read_clip
from models import VideoEncoder
from models.views import classify_views

DEFAULT_FRAMES = 8  # frames per clip for an upload while no index says how many its model was built with

Ranking = list[tuple[str, float, float]]  # (label, cosine, probability), best first


class Classifier:
    def __init__(self, index: CurrentIndex, encoder: VideoEncoder, library: LibraryBrowser):
        self.index = index
        self.encoder = encoder
        self.library = library

    def frames_per_clip(self) -> int:
        reader = self.index.reader
        return reader.manifest.frames if reader is not None else DEFAULT_FRAMES

    def file(
        self,
        path: Path,
        labels: list[str],
        template: str,
        start: float = 0.0,
        end: float | None = None,
        views: tuple[int, int] = (1, 1),
    ) -> Ranking:
        """Decodes ``path`` (raises indexer.errors.DecodeError when it is no video) and classifies it, over ``views``
        (spatial crops, temporal views: :mod:`models.views`); three crops are cut from frames decoded at the crop
        size, as the reference's ThreeCrop resizes to it."""
        preprocess = self.encoder.preprocess
        crops, temporal = views
        short_side = decode_short_side(preprocess.crop if crops > 1 else preprocess.resize)
        resample = decode_resampling(preprocess.interpolation)
        clip = read_clip(str(path), self.frames_per_clip(), short_side, start, end, resample=resample, views=temporal)
        if views == (1, 1):
            return self.encoder.classify(clip, labels, template)
        return classify_views(self.encoder, clip, labels, template, crops)

    def segment(self, segment_id: int, labels: list[str], template: str) -> Ranking:
        vector = self.index.require().segment_vector(segment_id)
        if vector is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        return self.encoder.classify_vector(vector, labels, template)

    def video(self, video_id: int, labels: list[str], template: str) -> Ranking:
        reader = self.index.require()
        record = reader.video_record(video_id)
        if record is not None and record.indexed and record.kind == PHOTO_KIND:
            # A photo is its one segment, whose vector is the picture's own: nothing to decode again.
            return self.segment(reader.video_segments(video_id)[0].segment_id, labels, template)
        with self.library.video_file(video_id) as checked:  # the file /videos would serve, never one swapped in since
            return self.file(checked.path, labels, template, 0.0, checked.video.duration)
