"""Frame accuracy of every decoder backend against a sequential PyAV decode, and the fallback when one is wrong."""

import importlib.util
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.decoders import DECODERS, VerifiedDecoder, get_decoder
from indexer.errors import DecodeError
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.realdata import FILES
from tests.videos import make_video

OPTIONAL_PACKAGES = {"decord": "decord", "torchcodec": "torchcodec"}  # backend -> the package it needs


def required_by(name: str) -> str:
    """The variable that makes a missing backend a failure instead of a skip: .ci/run sets it for each backend the
    test extra installs there (VIDSEEK_TEST_TORCHCODEC=required, as tests/indexer/test_torchcodec.py reads it)."""
    return f"VIDSEEK_TEST_{name.upper().replace('-', '_')}"


def unavailable(name: str) -> str | None:
    """Why a backend cannot run here (None: it can): its package, or for torchcodec FFmpeg's shared libraries, is
    missing."""
    package = OPTIONAL_PACKAGES.get(name)
    if package and importlib.util.find_spec(package) is None:
        return f"the {name} backend is not installed (pip install -e '.[test]' installs it)"
    try:
        get_decoder(name)
    except DecodeError as exc:  # DecoderUnavailableError: installed, but cannot load
        return str(exc)
    return None


def backend_param(name: str):
    """Every backend is a parameter; one that cannot run here is a skip with the reason, unless it is required."""
    reason = unavailable(name)
    skip = reason is not None and os.environ.get(required_by(name)) != "required"
    return pytest.param(name, marks=pytest.mark.skipif(skip, reason=f"{reason} ({required_by(name)}=required fails instead)"))


BACKENDS = [backend_param(name) for name in DECODERS]


def backend(name: str):
    """The backend under test; reached for a backend that cannot run only when it is required: a failure."""
    reason = unavailable(name)
    if reason is not None:
        pytest.fail(f"{required_by(name)}=required but {reason}", pytrace=False)
    return get_decoder(name)


def reference_frames(path: Path, times, short_side, keyframes_only=False):
    """Every frame decoded in order; for each instant, the frame shown at it (the last starting at or before it), or
    for ``keyframes_only`` the keyframe nearest to it (ties to the earlier)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        frames = [(float(f.pts * stream.time_base) - t0, f) for f in container.decode(stream)]
        if keyframes_only:
            frames = [(t, f) for t, f in frames if f.key_frame]
        ctx = stream.codec_context
        scale = short_side / min(ctx.width, ctx.height)
        w, h = round(ctx.width * scale), round(ctx.height * scale)
        if keyframes_only:
            chosen = [min(frames, key=lambda tf: (abs(tf[0] - t), tf[0]))[1] for t in times]
        else:
            chosen = [([f for s, f in frames if s <= t + 1e-6] or [frames[0][1]])[-1] for t in times]
        return np.stack([f.to_ndarray(format="rgb24", width=w, height=h) for f in chosen])


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("acc") / "g.mp4", 20, fps=25, gop=100, size=(320, 240))


@pytest.mark.parametrize("name", BACKENDS)
def test_frames_match_a_sequential_decode(name, generated):
    """The frames shown at each instant; for pyav-keyframes (--fast-seek), the nearest keyframes (every 4 s here)."""
    times = [0.31, 4.1, 9.96, 12.5, 19.7]  # 0.31: in frame 7, nearer frame 8
    frames = backend(name).read(generated, times, 120)
    # PyAV is the reference for which frame is shown at an instant: here only its pixels are checked
    reference = reference_frames(generated, frames.times if name == "pyav" else times, 120, name == "pyav-keyframes")
    assert frames.images.shape == reference.shape
    for got, want in zip(frames.images, reference):
        assert mean_abs_diff(got, want) < 2.0
    if name == "pyav-keyframes":
        assert frames.times == pytest.approx([0.0, 4.0, 8.0, 12.0, 16.0])


def test_pyav_matches_reference_on_real_files(real_library):
    decoder = get_decoder("pyav")
    for path in (real_library / name for name in FILES):
        info = decoder.probe(path)
        times = [info.duration * f for f in (0.1, 0.45, 0.8)]
        frames = decoder.read(path, times, 96)
        reference = reference_frames(path, frames.times, 96)
        for got, want in zip(frames.images, reference):
            assert mean_abs_diff(got, want) < 2.0, path


class WrongFrames:
    """A backend that returns the frames of other instants (what decord did on Megamind.avi)."""

    name = "wrong"

    def probe(self, path):
        return get_decoder("pyav").probe(path)

    def read(self, path, times, short_side):
        return get_decoder("pyav").read(path, [max(0.0, t - 3.0) for t in times], short_side)


def test_a_wrong_backend_falls_back_to_pyav_and_says_so(generated):
    times = [5.0, 10.0, 15.0]
    frames = VerifiedDecoder(WrongFrames()).read(generated, times, 96)
    assert frames.note and "wrong frames" in frames.note and "pyav" in frames.note
    expected = get_decoder("pyav").read(generated, times, 96)
    np.testing.assert_array_equal(frames.images, expected.images)


@pytest.mark.parametrize("name", [backend_param("decord")])
def test_decord_build_never_indexes_wrong_frames(name, real_library, tmp_path, _tiny_encoder):
    backend(name)  # a failure where decord is required but cannot run
    megamind = real_library / "opencv" / "Megamind.avi"
    library = tmp_path / "lib"
    library.mkdir()
    shutil.copy(megamind, library)  # not a symbolic link: the scan follows none that leads out of the library
    pyav = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "a", frames=8, workers=1, progress=False))
    dec = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "b", frames=8, workers=1, progress=False, decoder="decord"))
    assert dec.indexed == pyav.indexed == 1
    from indexer.index_dir.reader import IndexReader

    a, b = IndexReader(tmp_path / "a"), IndexReader(tmp_path / "b")
    va = a.video(a.videos()[0].id).segments
    vb = b.video(b.videos()[0].id).segments
    for sa, sb in zip(va, vb):
        np.testing.assert_allclose(a.segment_vector(sa.id), b.segment_vector(sb.id), atol=2e-2)
    assert dec.notes, "decord is known to return wrong frames on Megamind.avi: the fallback must be reported"


class SlowOnLongFiles:
    """PyAV, except that it hangs on any file named slow* (a pathological file)."""

    name = "slow"

    def probe(self, path):
        return get_decoder("pyav").probe(path)

    def read(self, path, times, short_side):
        if Path(path).name.startswith("slow"):
            import time

            time.sleep(60)
        return get_decoder("pyav").read(path, times, short_side)


def test_a_file_that_takes_too_long_is_given_up(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a_quick.mp4", 1, size=(64, 48))
    make_video(library / "slow.mp4", 2, size=(64, 48))
    make_video(library / "z_quick.mp4", 1, size=(64, 48))
    started = __import__("time").monotonic()
    report = build_index(
        _tiny_encoder,
        BuildOptions(library, tmp_path / "i", workers=1, progress=False, file_timeout=1.0, decoder=f"{__name__}:SlowOnLongFiles"),
    )
    assert __import__("time").monotonic() - started < 30
    assert report.indexed == 2
    assert [Path(p).name for p, _ in report.failed] == ["slow.mp4"]
    assert "longer than 1s" in report.failed[0][1]
