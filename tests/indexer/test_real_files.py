"""Index real-world files (from PyPI and Debian packages, fetched by ``make testdata``): each is indexed or recorded
as failed with a reason, and no segment lies past the real end of its file (found by decoding every frame, not from
headers)."""

import av

from indexer.index_dir.reader import IndexReader
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.realdata import FILES


def real_end(path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        last = None
        for frame in container.decode(stream):
            last = float(frame.pts * stream.time_base) - t0
        fps = float(stream.average_rate or 25)
    return last + 1.0 / fps


def test_real_world_library(real_library, tmp_path, _tiny_encoder):
    files = [real_library / name for name in FILES]
    options = BuildOptions(real_library, tmp_path / "index", frames=4, segments="fixed", workers=2, progress=False)
    report = build_index(_tiny_encoder, options)
    assert report.indexed + len(report.failed) == len(files)
    reader = IndexReader(tmp_path / "index")
    videos = {v.path: v for v in reader.videos()}
    assert set(videos) == {str(p) for p in files}
    for path, video in videos.items():
        if video.status == "failed":
            assert video.error, path
            continue
        segments = reader.video(video.id).segments
        assert segments, path
        end = real_end(path)
        assert max(s.end for s in segments) <= end + 1e-3, (path, segments[-1].end, end)
        assert all(reader.segment_vector(s.id) is not None for s in segments)
    long = videos[str(real_library / "opencv" / "vtest.avi")]
    assert long.status == "indexed" and len(reader.video(long.id).segments) == 8  # 79.5 s in 10 s segments
