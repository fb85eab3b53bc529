"""The torchcodec backend: the same frames as PyAV (the reference), in the order asked, scaled alike; clear errors
for bad files and for a missing torchcodec or FFmpeg. Skipped where torchcodec or FFmpeg's shared libraries are not
installed, except in CI (VIDSEEK_TEST_TORCHCODEC=required, set by .ci/run), where that is a failure."""

import os
import random
import types

import numpy as np
import pytest

from indexer.decoders import get_decoder
from indexer.decoders.torchcodec import TorchCodecDecoder, frame_index
from indexer.errors import DecodeError, DecoderUnavailableError
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.realdata import FILES
from tests.videos import make_corrupt, make_video, read_frame_number

FPS = 25
REQUIRED = os.environ.get("VIDSEEK_TEST_TORCHCODEC") == "required"


@pytest.fixture(scope="module")
def torchcodec():
    if not REQUIRED:
        pytest.importorskip("torchcodec", reason="torchcodec is an optional backend (pip install 'vidseek[torchcodec]')")
    try:
        return get_decoder("torchcodec")
    except DecoderUnavailableError as exc:
        if REQUIRED:
            pytest.fail(f"VIDSEEK_TEST_TORCHCODEC=required but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    # 20 s, 25 fps, a keyframe every 2 s: instants closer than a GOP, and gaps that a seek skips
    return make_video(tmp_path_factory.mktemp("tc") / "numbered.mp4", 20, fps=FPS, gop=50, size=(320, 180))


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize(
    "times",
    [
        [0.0, 0.62, 0.66, 4.1, 9.96, 12.5, 19.7],  # 0.62: half-way through frame 15 takes it; 0.66 (nearer 17): 16
        [19.0, 0.3, 11.1, 2.0, 2.0, 7.77],  # out of order, repeated
        [3.0, 25.0, 40.0],  # past the end
    ],
)
def test_same_frames_as_pyav(torchcodec, numbered, times):
    got = torchcodec.read(numbered, times, 96)
    want = get_decoder("pyav").read(numbered, times, 96)
    assert got.note is None, got.note  # decoded by torchcodec, not by the fallback
    assert got.images.shape == want.images.shape == (len(times), 96, 171, 3)
    assert got.times == pytest.approx(want.times, abs=1e-9)
    assert (got.end_time is None) == (want.end_time is None)
    if want.end_time is not None:
        assert got.end_time == pytest.approx(want.end_time)
    for mine, theirs in zip(got.images, want.images):
        assert read_frame_number(mine) == read_frame_number(theirs)
        assert mean_abs_diff(mine, theirs) < 2.0  # RGB scaling vs PyAV's YUV scaling: about 1 on real files


def test_random_instants_match_pyav(torchcodec, numbered):
    """Chunks anywhere in the file, some past its end: the same frames, times and end as PyAV."""
    rng = random.Random(0)
    pyav = get_decoder("pyav")
    for _ in range(20):
        start, span = rng.uniform(-0.5, 21.0), rng.choice([0.3, 2.5, 8.0, 25.0])
        times = [max(0.0, rng.uniform(start, start + span)) for _ in range(rng.randint(1, 10))]
        got, want = torchcodec.read(numbered, times, 48), pyav.read(numbered, times, 48)
        assert got.times == pytest.approx(want.times, abs=1e-9), times
        assert [read_frame_number(i) for i in got.images] == [read_frame_number(i) for i in want.images], times
        assert (got.end_time is None) == (want.end_time is None), times


def test_only_the_span_asked_is_demuxed(numbered):
    """A long video is read chunk by chunk: each read indexes its own span (from the keyframe before it), not the
    whole file again."""
    middle = frame_index(numbered, 12.3, 13.1)
    assert 10.0 <= middle.pts[0] * middle.time_base <= 12.3 and middle.keyframes[0]  # keyframes every 2 s
    assert 13.1 < middle.pts[-1] * middle.time_base < 14.0 and not middle.complete
    assert frame_index(numbered, 19.0, 25.0).complete
    assert len(frame_index(numbered, 0.0, 30.0).pts) == 20 * FPS


def test_frames_come_in_the_order_asked(torchcodec, numbered):
    times = [17.3, 0.5, 9.0, 0.13, 14.43]
    frames = torchcodec.read(numbered, times, 64)
    shown = [int(t * FPS + 1e-6) for t in times]  # the frame shown at each instant: 0.13 s is in frame 3
    assert [read_frame_number(image) for image in frames.images] == shown
    assert frames.times == pytest.approx([i / FPS for i in shown])


def test_frames_are_scaled_to_the_short_side(torchcodec, numbered, tmp_path):
    assert torchcodec.read(numbered, [1.0], 224).images.shape == (1, 224, 398, 3)
    portrait = make_video(tmp_path / "portrait.mp4", 1, fps=FPS, size=(96, 160))
    assert torchcodec.read(portrait, [0.5], 48).images.shape == (1, 80, 48, 3)
    native = torchcodec.read(numbered, [4.0, 8.0], 180)  # no scaling: the same pixels as PyAV's conversion
    reference = get_decoder("pyav").read(numbered, [4.0, 8.0], 180)
    assert native.images.shape == (2, 180, 320, 3)
    assert mean_abs_diff(native.images, reference.images) < 0.5


def test_probe_is_pyavs(torchcodec, numbered):
    assert torchcodec.probe(numbered) == get_decoder("pyav").probe(numbered)


def test_not_a_video_raises_decode_error(torchcodec, tmp_path, numbered):
    with pytest.raises(DecodeError):
        torchcodec.read(make_corrupt(tmp_path / "x.mp4"), [0.0, 1.0], 64)
    with pytest.raises(DecodeError):
        torchcodec.probe(make_corrupt(tmp_path / "x.mp4"))
    with pytest.raises(DecodeError):
        torchcodec.read(make_corrupt(tmp_path / "cut.mp4", source=numbered), [0.0, 1.0], 64)


def test_a_torchcodec_failure_is_redone_with_pyav_and_said(torchcodec, numbered, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("Could not decode the frame")  # what torchcodec raises for an FFmpeg failure

    monkeypatch.setattr("torchcodec.decoders.VideoDecoder", fails)
    frames = torchcodec.read(numbered, [1.0, 5.0], 64)
    assert frames.note and "torchcodec failed" in frames.note and "Could not decode the frame" in frames.note
    assert frames.note.endswith("decoded with pyav")
    np.testing.assert_array_equal(frames.images, get_decoder("pyav").read(numbered, [1.0, 5.0], 64).images)


def test_real_files_match_pyav(torchcodec, real_library):
    """The same frames as PyAV on the real test files. The two Megamind AVIs (MPEG-4 with packed B-frames) have
    timestamps that do not follow the pictures: FFmpeg's output is out of order, so PyAV's choice and torchcodec's
    can be labelled one frame apart, or torchcodec's frame is rejected by its timestamp and the read redone with
    PyAV. There the pictures are only as close as VerifiedDecoder asks (mean difference under 6)."""
    pyav = get_decoder("pyav")
    for path in (real_library / name for name in FILES):
        info = pyav.probe(path)
        times = [info.duration * f for f in (0.93, 0.071, 0.43, 0.81)]  # fractions that fall on no frame's start
        got, want = torchcodec.read(path, times, 96), pyav.read(path, times, 96)
        packed = path.name.startswith("Megamind")
        assert got.times == pytest.approx(want.times, abs=1.01 / info.fps if packed else 1e-6), path
        for mine, theirs in zip(got.images, want.images):
            assert mean_abs_diff(mine, theirs) < (6.0 if packed else 2.0), path
        assert got.note is None or packed, got.note


def test_a_build_with_torchcodec_indexes_what_pyav_does(torchcodec, tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 12, fps=FPS, gop=50, size=(160, 96))
    make_video(library / "b.mp4", 3, fps=FPS, color=(30, 30, 200), size=(96, 160))
    pyav = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "a", frames=4, workers=1, progress=False))
    fast = build_index(
        _tiny_encoder, BuildOptions(library, tmp_path / "b", frames=4, workers=1, progress=False, decoder="torchcodec")
    )
    assert fast.indexed == pyav.indexed == 2 and not fast.failed and not fast.notes
    from indexer.index_dir.reader import IndexReader

    a, b = IndexReader(tmp_path / "a"), IndexReader(tmp_path / "b")
    for va, vb in zip(a.videos(), b.videos()):
        sa, sb = a.video(va.id).segments, b.video(vb.id).segments
        assert [(s.start, s.end) for s in sa] == [(s.start, s.end) for s in sb]
        for x, y in zip(sa, sb):
            np.testing.assert_allclose(a.segment_vector(x.id), b.segment_vector(y.id), atol=2e-2)


# Without torchcodec or FFmpeg: these run everywhere (the modules are faked).


def test_missing_torchcodec_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torchcodec", None)  # import torchcodec -> ImportError
    with pytest.raises(DecoderUnavailableError, match="not installed") as raised:
        get_decoder("torchcodec")
    assert "pip install 'vidseek[torchcodec]'" in str(raised.value) and "apt-get install ffmpeg" in str(raised.value)


def test_missing_ffmpeg_libraries_says_how_to_install(monkeypatch):
    fake = types.ModuleType("torchcodec")
    fake.ffmpeg_major_version = None  # what torchcodec reports when no libavcodec it supports loads
    monkeypatch.setitem(__import__("sys").modules, "torchcodec", fake)
    with pytest.raises(DecoderUnavailableError, match="cannot load FFmpeg") as raised:
        TorchCodecDecoder()
    assert "versions 4 to 9" in str(raised.value) and "apt-get install ffmpeg" in str(raised.value)
    assert isinstance(raised.value, DecodeError)  # the build records it against the file, the CLI prints it


def test_a_build_whose_decoder_cannot_load_stops_before_touching_the_index(monkeypatch, tmp_path, _tiny_encoder):
    # Not one failure per file: those files would then count as unchanged, and stay failed until --rebuild.
    monkeypatch.setitem(__import__("sys").modules, "torchcodec", None)
    make_video(tmp_path / "lib" / "a.mp4", 1)
    options = BuildOptions(tmp_path / "lib", tmp_path / "index", decoder="torchcodec", progress=False)
    with pytest.raises(DecoderUnavailableError, match="not installed"):
        build_index(_tiny_encoder, options)
    assert not (tmp_path / "index").exists()
