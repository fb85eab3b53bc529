"""The decoded frame size is bounded where it is decided (scaled_size), for every backend and for library builds:
an elongated video is a clear, recorded failure, not gigabytes of frames. Empty and unreadable files say so
without naming the file (an upload's name is a server temp path)."""

import pytest

from indexer.decoders import get_decoder, scaled_size
from indexer.errors import DecodeError
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.videos import make_corrupt, make_video


@pytest.mark.parametrize("size", [(2, 2048), (2048, 2), (60000, 1), (1, 1000), (2241, 224), (0, 100)])
def test_scaled_size_refuses_extreme_aspect_ratios(size):
    with pytest.raises(DecodeError, match=rf"{size[0]}x{size[1]} is too elongated"):
        scaled_size(*size, 224)


@pytest.mark.parametrize(
    "size, scaled",
    [((1920, 1080), (398, 224)), ((1080, 1920), (224, 398)), ((3840, 1080), (796, 224)), ((2240, 224), (2240, 224))],
)
def test_scaled_size_keeps_real_aspect_ratios(size, scaled):
    assert scaled_size(*size, 224) == scaled  # up to 10:1 (2240x224 at 224), a bound on what one frame costs


@pytest.fixture(scope="module")
def thin(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("bounds") / "thin.mp4", 1, size=(2, 2048))


@pytest.mark.parametrize("decoder", ["pyav", "pyav-keyframes", "decord"])
def test_every_decoder_refuses_an_elongated_video(thin, decoder):
    with pytest.raises(DecodeError, match="2x2048 is too elongated"):  # was 224x229,376 frames, 150 MB each
        get_decoder(decoder).read(thin, [0.2, 0.5], short_side=224)


def test_an_empty_file_says_it_is_empty(tmp_path):
    nothing = tmp_path / "nothing.mp4"
    nothing.write_bytes(b"")
    with pytest.raises(DecodeError, match="the file is empty"):  # was FFmpeg's "Invalid data found when processing input"
        get_decoder("pyav").probe(nothing)


def test_decode_errors_do_not_name_the_file(tmp_path):
    junk = make_corrupt(tmp_path / "vidseek-upload-x1y2z3.mp4")
    with pytest.raises(DecodeError) as caught:
        get_decoder("pyav").probe(junk)
    assert "Invalid data" in str(caught.value) and str(junk) not in str(caught.value)


def test_a_library_build_records_elongated_and_empty_files_as_failures(_tiny_encoder, tmp_path):
    library = tmp_path / "library"
    make_video(library / "fine.mp4", 2)
    make_video(library / "thin.mp4", 2, size=(2, 2048))
    make_video(library / "flat.mp4", 2, size=(2048, 2))
    (library / "empty.mp4").write_bytes(b"")
    report = build_index(_tiny_encoder, BuildOptions(library, tmp_path / "index", frames=4, workers=1, progress=False))
    failed = {path.rsplit("/", 1)[-1]: reason for path, reason in report.failed}
    assert report.indexed == 1 and set(failed) == {"thin.mp4", "flat.mp4", "empty.mp4"}
    assert "2x2048 is too elongated" in failed["thin.mp4"] and "2048x2 is too elongated" in failed["flat.mp4"]
    assert "the file is empty" in failed["empty.mp4"]
