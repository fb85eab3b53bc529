"""Which frame each sampled instant takes, held to ViFi-CLIP's facts: for T segments of a clip of N frames the
reference reads frame floor((i + 0.5) * N / T) (its datasets/pipeline.py, SampleFrames._get_test_clips). Every exact
backend installed here gives the frame shown at the instant (pts <= t < next pts), read from frames numbered in
their pixels."""

from fractions import Fraction

import numpy as np
import pytest

from indexer.clips import read_clip
from indexer.decoders import DecordDecoder, get_decoder
from indexer.segment import sample_frame_times
from tests.indexer.test_decoders import backend, backend_param
from tests.videos import make_video, read_frame_number

FPS = 25
T = 8
REFERENCE = {  # N -> the reference's indices for T = 8
    8: [0, 1, 2, 3, 4, 5, 6, 7],
    30: [1, 5, 9, 13, 16, 20, 24, 28],
    250: [15, 46, 78, 109, 140, 171, 203, 234],
    251: [15, 47, 78, 109, 141, 172, 203, 235],
    7: [0, 1, 2, 3, 3, 4, 5, 6],
}
EXACT = [backend_param(name) for name in ("pyav", "decord", "torchcodec")]


def reference_indices(n: int, t: int) -> np.ndarray:
    """The reference's formula, as it writes it (test mode, clip_len 1, frame_interval 1)."""
    return (np.arange(t) * (n / t) + n / t / 2).astype(int)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sampling")
    return {n: make_video(folder / f"n{n}.mp4", n / FPS, fps=FPS, size=(160, 96)) for n in REFERENCE}


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("n", list(REFERENCE))
def test_the_reference_table_in_every_exact_backend(name, n, clips):
    decoder = backend(name)
    frames = decoder.read(clips[n], sample_frame_times(0.0, n / FPS, T), 96)
    assert [read_frame_number(image) for image in frames.images] == REFERENCE[n]
    assert [round(t * FPS) for t in frames.times] == REFERENCE[n]
    assert frames.note is None  # decord's own frames: the spot check found nothing to redo
    assert list(reference_indices(n, T)) == REFERENCE[n]  # the table is the formula's


@pytest.mark.parametrize("name", [backend_param("decord")])
def test_decord_unverified_gives_the_table_too(name, clips):
    backend(name)
    for n, expected in REFERENCE.items():
        frames = DecordDecoder().read(clips[n], sample_frame_times(0.0, n / FPS, T), 48)
        assert [read_frame_number(image) for image in frames.images] == expected, n


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("sampling") / "long.mp4", 160 / FPS, fps=FPS, size=(160, 96))


@pytest.mark.parametrize("name", [backend_param("pyav"), backend_param("decord")])
def test_indices_equal_the_reference_formula_over_many_n_and_t(name, long_clip):
    """The first N frames of a longer clip, read over [0, N/fps] as a clip of N frames, for T = 1..16. Where
    (i + 0.5) * N / T is an exact integer k the instant is the start of frame k, which we take; the reference's
    float arithmetic lands a hair below it there and reads frame k - 1 (N = 6, T = 9, say): the only difference."""
    decoder = backend(name)
    boundaries = 0
    for n in [*range(1, 41), 64, 97, 128, 150, 160]:
        instants = {t: sample_frame_times(0.0, n / FPS, t) for t in range(1, 17)}
        frames = decoder.read(long_clip, [x for t in instants for x in instants[t]], 48)
        got = [read_frame_number(image) for image in frames.images]
        for t in instants:
            ours, got = got[:t], got[t:]
            exact = [(2 * i + 1) * n // (2 * t) for i in range(t)]
            assert ours == exact, (n, t)
            for i, (mine, theirs) in enumerate(zip(ours, reference_indices(n, t))):
                on_a_boundary = Fraction((2 * i + 1) * n, 2 * t).denominator == 1
                assert mine == theirs or (on_a_boundary and theirs == mine - 1), (n, t, i)
                boundaries += on_a_boundary and mine != theirs
    assert boundaries > 0  # the float-noise cases were really exercised


def test_an_instant_a_hair_before_a_frame_start_takes_that_frame(long_clip):
    """Float noise on an exact boundary (2.9999999/fps for 3/fps) never picks the frame before; a real offset
    (a tenth of a frame) does."""
    decoder = get_decoder("pyav")
    times = [3 / FPS - 1e-9, 2.9999999 / FPS, 3 / FPS, 3 / FPS - 0.1 / FPS, 3.999 / FPS]
    frames = decoder.read(long_clip, times, 48)
    assert [read_frame_number(image) for image in frames.images] == [3, 3, 3, 2, 3]


def test_instants_past_the_last_frame_take_the_last_frame(clips):
    decoder = get_decoder("pyav")
    inside = decoder.read(clips[8], [7.9 / FPS], 48)  # in the last frame's interval: no early end
    assert read_frame_number(inside.images[0]) == 7 and inside.end_time is None
    past = decoder.read(clips[8], [2 / FPS, 12 / FPS], 48)
    assert [read_frame_number(image) for image in past.images] == [2, 7]
    assert past.end_time == pytest.approx(8 / FPS)


def test_temporal_views_spread_evenly_through_each_subsegment():
    assert sample_frame_times(0, 8, 4, view=0, views=1) == sample_frame_times(0, 8, 4) == [1.0, 3.0, 5.0, 7.0]
    views = [sample_frame_times(0, 12, 4, view=v, views=3) for v in range(3)]
    assert views == [[0.5, 3.5, 6.5, 9.5], [1.5, 4.5, 7.5, 10.5], [2.5, 5.5, 8.5, 11.5]]
    with pytest.raises(ValueError, match="view"):
        sample_frame_times(0, 1, 4, view=3, views=3)


def test_read_clip_decodes_every_view_in_one_pass(clips, monkeypatch):
    import indexer.clips

    reads = []
    real = indexer.clips.read_frames
    monkeypatch.setattr(indexer.clips, "read_frames", lambda *a, **k: reads.append(a[2]) or real(*a, **k))
    n = 250
    clip = read_clip(str(clips[n]), T, 48, 0.0, n / FPS, views=3)
    assert clip.shape == (3, T, 48, 80, 3) and len(reads) == 1 and len(reads[0]) == 3 * T
    numbers = [[read_frame_number(image) for image in view] for view in clip]
    assert numbers[1] == REFERENCE[n]  # the middle view of an odd count is the midpoints
    assert numbers == [[(6 * i + 2 * v + 1) * n // (2 * 3 * T) for i in range(T)] for v in range(3)]  # (i + (v + .5) / 3) * n / T
    assert read_clip(str(clips[n]), T, 48, 0.0, n / FPS).shape == (T, 48, 80, 3)


def test_training_sets_cache_each_view_count_apart(clips, tmp_path):
    from indexer.dataset import Example, load_clips

    examples = [Example(clips[30], label="x")]
    one = load_clips(examples, 4, 48, cache_dir=tmp_path)
    two = load_clips(examples, 4, 48, cache_dir=tmp_path, views=2)
    assert one.clips[0].shape[0] == 4 and two.clips[0].shape[:2] == (2, 4)
    assert len(list(tmp_path.glob("*.npy"))) == 2  # the cache key holds the views
    assert load_clips(examples, 4, 48, cache_dir=tmp_path, views=2).cached == 1
    opencv = load_clips(examples, 4, 256, interpolation="opencv-bilinear")
    assert opencv.clips[0].shape == (4, 256, 427, 3)  # 160x96 at mmcv size (426.7 -> 427), OpenCV bilinear
