"""Frame accuracy of every decoder backend against a sequential PyAV decode, and the fallback when one is wrong."""

from pathlib import Path

import av
import numpy as np
import pytest

from indexer.build import BuildOptions, build_index
from indexer.decode import DECODERS, DecoderUnavailableError, VerifiedDecoder, get_decoder
from tests.videos import make_video


def installed(name: str) -> bool:
    """PyAV, and each optional backend whose package (and, for torchcodec, FFmpeg's shared libraries) is here."""
    if name == "pyav":
        return True
    if __import__("importlib").util.find_spec(name) is None:
        return False
    try:
        get_decoder(name)
    except DecoderUnavailableError:
        return False
    return True


BACKENDS = [name for name in DECODERS if installed(name)]


def reference_frames(path: Path, times, short_side):
    """Every frame decoded in order; for each instant, the frame nearest to it (ties to the earlier)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        frames = [(float(f.pts * stream.time_base) - t0, f) for f in container.decode(stream)]
        ctx = stream.codec_context
        scale = short_side / min(ctx.width, ctx.height)
        w, h = round(ctx.width * scale), round(ctx.height * scale)
        chosen = [min(frames, key=lambda tf: (abs(tf[0] - t), tf[0]))[1] for t in times]
        return np.stack([f.to_ndarray(format="rgb24", width=w, height=h) for f in chosen])


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("acc") / "g.mp4", 20, fps=25, gop=100, size=(320, 240))


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_match_a_sequential_decode(backend, generated):
    times = [0.3, 4.1, 9.96, 12.5, 19.7]
    frames = get_decoder(backend).read(generated, times, 120)
    reference = reference_frames(generated, frames.times if backend == "pyav" else times, 120)
    assert frames.images.shape == reference.shape
    for got, want in zip(frames.images, reference):
        assert mean_abs_diff(got, want) < 2.0


def test_pyav_matches_reference_on_real_files():
    from tests.realdata import CACHE

    files = sorted((CACHE / "library").rglob("*.*")) if (CACHE / "library").exists() else []
    if not files:
        pytest.skip("real test videos not fetched yet (tests/indexer/test_real_files.py fetches them)")
    decoder = get_decoder("pyav")
    for path in files:
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


@pytest.mark.skipif("decord" not in BACKENDS, reason="decord is an optional backend (pip install decord)")
def test_decord_build_never_indexes_wrong_frames(tmp_path, _tiny_encoder):
    from tests.realdata import CACHE

    megamind = CACHE / "library" / "opencv" / "Megamind.avi"
    if not megamind.exists():
        pytest.skip("real test videos not fetched yet")
    library = tmp_path / "lib"
    library.mkdir()
    (library / "Megamind.avi").symlink_to(megamind)
    pyav = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "a", frames=8, workers=1, progress=False))
    dec = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "b", frames=8, workers=1, progress=False, decoder="decord"))
    assert dec.indexed == pyav.indexed == 1
    from indexer.store import IndexReader

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
