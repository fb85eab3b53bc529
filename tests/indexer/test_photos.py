"""Photos indexed as one-frame clips: the photo backend (header, EXIF rotation, damaged pictures), one segment at 0.0,
and a photo's vector exactly the one a search by the same picture computes, on the local and the Ray runner alike,
whatever backend decodes the build's videos."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.clips import decode_resampling, decode_short_side, image_frame, open_video
from indexer.decoders import PHOTO_DECODER, PhotoDecoder, PyAVDecoder, VideoInfo, get_decoder
from indexer.decoders.base import read_frames
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE
from indexer.errors import DecodeError, FrameSizeError, NotMediaError
from indexer.index_dir.reader import open_index
from indexer.pipeline import plan
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.pipeline.plan import VideoJob, decoder_for
from indexer.scan import PHOTO_EXTENSIONS, LibraryFile
from indexer.segment import Segment, sample_frame_times, segments_for
from indexer.segmenters import SegmentRule
from tests.videos import make_video

VIDEO_ONLY = f"{__name__}:VideoOnlyDecoder"


class VideoOnlyDecoder(PyAVDecoder):
    """A build's video backend that cannot read pictures: a photo handed to it fails the build's check below."""

    name = "video-only"

    def probe(self, path):
        if Path(path).suffix.lower() in PHOTO_EXTENSIONS:
            raise DecodeError("a video backend was handed a photo")
        return super().probe(path)


def rotated_jpeg(path: Path, size=(160, 90), color=(40, 120, 200)) -> Path:
    """A JPEG whose EXIF says it is shown turned by 90 degrees (orientation 6), with a white band on its left."""
    image = Image.new("RGB", size, color)
    image.paste((255, 255, 255), (0, 0, size[0] // 4, size[1]))
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(path, "JPEG", quality=95, exif=exif)
    return path


def test_the_photo_backend_reads_a_picture_as_image_frame_scales_it(tmp_path):
    path = rotated_jpeg(tmp_path / "p.jpg")
    decoder = get_decoder(PHOTO_DECODER)
    assert isinstance(decoder, PhotoDecoder)
    info = decoder.probe(path)
    assert (info.duration, info.fps, info.width, info.height, info.codec, info.still) == (0.0, 0.0, 90, 160, "jpeg", True)
    for resample in (SWSCALE, OPENCV_BILINEAR):
        frames = read_frames(decoder, path, [0.0, 0.0, 0.0], 224, resample)
        expected = image_frame(path.read_bytes(), 224, resample)
        assert frames.images.shape == (3, *expected.shape[1:]) and frames.times == [0.0] * 3 and frames.end_time is None
        for image in frames.images:
            np.testing.assert_array_equal(image, expected[0])
    assert frames.images.shape[1:3] == (398, 224)  # shown portrait: 90x160 scaled to a short side of 224
    assert frames.images[0, :20].mean() > 240 and frames.images[0, -20:].mean() < 200  # the band is on top now


def test_damaged_and_unreadable_pictures_fail_with_the_reason(tmp_path):
    decoder = PhotoDecoder()
    good = rotated_jpeg(tmp_path / "good.jpg", size=(640, 480))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    decoder.probe(truncated)  # its header is whole
    with pytest.raises(DecodeError, match="could not be decoded.*truncated"):
        decoder.read(truncated, [0.0], 224)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="not a picture Pillow can read") as raised:
        decoder.probe(garbage)
    assert not isinstance(raised.value, NotMediaError)  # named as a photo, but broken: reported as failed
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture at all\n" * 10)
    with pytest.raises(NotMediaError):
        decoder.probe(text)
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1000, 20)).save(strip)
    with pytest.raises(FrameSizeError):
        decoder.probe(strip)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # a small file, 81 Mpixels
    with pytest.raises(DecodeError, match="pixels: at most 64,000,000"):
        decoder.probe(bomb)


def test_a_photo_is_one_segment_at_zero_and_never_too_short(tmp_path):
    info = PhotoDecoder().probe(rotated_jpeg(tmp_path / "p.jpg"))
    assert segments_for(info, 10.0) == [Segment(0.0, 0.0)]
    assert sample_frame_times(0.0, 0.0, 8) == [0.0] * 8
    job = VideoJob(0, LibraryFile(tmp_path / "p.jpg", 1, 1, "f", kind="photo"))
    assert plan.plan(job, info, segments_for(info, 10.0), 8) == [[0]] and job.error is None
    opened = open_video(PHOTO_DECODER, str(tmp_path / "p.jpg"), SegmentRule(), 8, 4, 224)
    assert opened.info.still and opened.first.clips.shape == (1, 4, 398, 224, 3) and len(opened.first.posters) == 1
    short = VideoJob(1, LibraryFile(tmp_path / "v.mp4", 1, 1, "f"))
    assert plan.plan(short, VideoInfo(0.0, 25.0, 64, 48, "h264"), [], 8) == [] and "too short" in short.error


def test_photos_are_decoded_by_the_photo_backend_whatever_the_build_decodes_videos_with():
    photo, video = LibraryFile(Path("/l/p.jpg"), 1, 1, "f", kind="photo"), LibraryFile(Path("/l/v.mkv"), 1, 1, "f")
    for build_decoder in ("pyav", "torchcodec", "decord", VIDEO_ONLY):
        assert decoder_for(photo, build_decoder) == PHOTO_DECODER
        assert decoder_for(video, build_decoder) == build_decoder


@pytest.fixture(scope="module")
def photo_library(tmp_path_factory) -> Path:
    library = tmp_path_factory.mktemp("photos")
    rotated_jpeg(library / "portrait.jpg", size=(300, 200))
    Image.new("RGB", (200, 120), (220, 180, 30)).save(library / "yellow.png")
    make_video(library / "clip.mkv", 3, color=(200, 30, 30))
    return library


def build_options(library, index_dir, **kw):
    defaults = dict(frames=4, segments="fixed", segment_seconds=10, batch_size=4, workers=2, progress=False, decoder=VIDEO_ONLY)
    return BuildOptions(library, index_dir, **{**defaults, **kw})


def catalog(index_dir):
    """Each indexed file by name: (kind, spans, vectors, posters)."""
    reader = open_index(index_dir)
    try:
        out = {}
        for video in reader.videos():
            segments = reader.video(video.id).segments
            out[Path(video.path).name] = (
                video.kind,
                [(s.start, s.end) for s in segments],
                [reader.segment_vector(s.id) for s in segments],
                [reader.thumbnail_path(s.id).read_bytes() for s in segments],
            )
        return out
    finally:
        reader.close()


@pytest.fixture(scope="module")
def photo_index(photo_library, _tiny_encoder, tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("photo-index")
    report = build_index(_tiny_encoder, build_options(photo_library, index_dir))
    assert (report.indexed, report.failed) == (3, [])  # the build's video backend never saw a photo
    return index_dir


def test_a_photo_is_indexed_as_search_by_picture_encodes_it(photo_library, photo_index, _tiny_encoder):
    indexed = catalog(photo_index)
    assert {name: (kind, spans) for name, (kind, spans, *_) in indexed.items()} == {
        "clip.mkv": ("video", [(0.0, pytest.approx(3.0, abs=0.11))]),
        "portrait.jpg": ("photo", [(0.0, 0.0)]),
        "yellow.png": ("photo", [(0.0, 0.0)]),
    }
    preprocess = _tiny_encoder.preprocess
    short_side, resample = decode_short_side(preprocess.resize), decode_resampling(preprocess.interpolation)
    for name in ("portrait.jpg", "yellow.png"):
        picture = image_frame((photo_library / name).read_bytes(), short_side, resample)  # what search by picture does
        _, _, (vector,), (poster,) = indexed[name]
        np.testing.assert_allclose(vector, _tiny_encoder.encode_video(picture), atol=1e-5)
        shown = np.asarray(Image.open(io.BytesIO(poster)).convert("RGB"))
        assert shown.shape == picture.shape[1:]  # the poster is the photo, as decoded for the model
        assert np.abs(shown.astype(int) - picture[0].astype(int)).mean() < 3


def test_the_ray_runner_indexes_photos_as_the_local_one(local_ray, photo_library, photo_index, _tiny_encoder, tmp_path):
    from indexer.pipeline.ray import build_index_on_ray

    library = tmp_path / "lib"
    shutil.copytree(photo_library, library)
    (library / "notes.ts").write_text("export const x = 1;\n" * 20)  # no video: skipped, as by the local runner
    report = build_index_on_ray(_tiny_encoder, build_options(library, tmp_path / "index"))
    assert (report.indexed, report.segments, report.failed) == (3, 3, [])
    on_ray, local = catalog(tmp_path / "index"), catalog(photo_index)
    assert sorted(on_ray) == sorted(local) == ["clip.mkv", "portrait.jpg", "yellow.png"]
    for name, (kind, spans, vectors, posters) in local.items():
        assert on_ray[name][:2] == (kind, spans) and on_ray[name][3] == posters, name
        for got, want in zip(on_ray[name][2], vectors):
            np.testing.assert_allclose(got, want, atol=1e-5)
