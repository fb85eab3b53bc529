import os
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.decoders import get_decoder
from indexer.errors import IndexBusyError, IndexMismatchError, IndexWriteError
from indexer.index_dir.catalog import Segment, Video, connect, sqlite_url
from indexer.index_dir.layout import current_generation
from indexer.index_dir.manifest import read_manifest
from indexer.index_dir.reader import IndexReader
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.segment import sample_frame_times
from tests.videos import make_video, read_frame_number


def options(library, index_dir, **kw):
    defaults = dict(segments="fixed", frames=4, segment_seconds=10, batch_size=4, workers=2, progress=False)
    return BuildOptions(library, index_dir, **{**defaults, **kw})


def catalog(index_dir):
    engine = connect(sqlite_url(current_generation(index_dir) / "catalog.db"), readonly=True)
    with Session(engine) as session:
        videos = {os.path.basename(v.path): v for v in session.scalars(select(Video))}
        segments = list(session.scalars(select(Segment).order_by(Segment.id)))
        return videos, segments


def test_build_catalogues_segments_vectors_and_posters(built_index, library):
    manifest = read_manifest(built_index)
    assert (manifest.model, manifest.pretrained, manifest.dim, manifest.frames) == ("vidseek-tiny", "none", 64, 4)
    assert manifest.count == 6 and manifest.videos == 4 and manifest.failed == 1
    videos, segments = catalog(built_index)
    assert videos["corrupt.mp4"].status == "failed" and videos["corrupt.mp4"].error
    assert "notes.txt" not in videos
    long = videos["blue_long.mp4"]
    spans = [(s.start, s.end) for s in segments if s.video_id == long.id]
    assert spans == [(0, 10), (10, 20), (20, pytest.approx(25, abs=0.11))]
    for v in videos.values():
        if v.status == "indexed":
            assert max(s.end for s in segments if s.video_id == v.id) <= v.duration + 1e-6
    index = faiss.read_index(str(current_generation(built_index) / "vectors.faiss"))
    assert isinstance(index, faiss.IndexIDMap2) and index.ntotal == len(segments) == 6
    assert sorted(faiss.vector_to_array(index.id_map)) == [s.id for s in segments]
    for s in segments:
        poster = built_index / "thumbs" / f"{s.id}.jpg"
        assert poster.read_bytes()[:2] == b"\xff\xd8"


def test_indexed_vector_is_the_encoding_of_the_sampled_frames(built_index, library, tiny_encoder):
    reader = IndexReader(built_index)
    _, segments = catalog(built_index)
    segment = next(s for s in segments if s.ordinal == 1)  # the long video's second segment
    video = reader.video(segment.video_id)
    times = sample_frame_times(segment.start, segment.end, 4)
    frames = get_decoder("pyav").read(Path(video.path), times, 224)
    assert [read_frame_number(f) for f in frames.images] == [round(t * 10) for t in frames.times]
    np.testing.assert_allclose(reader.segment_vector(segment.id), tiny_encoder.encode_video(frames.images), atol=1e-5)


def test_second_build_processes_nothing_then_follows_changes(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 2, color=(255, 0, 0))
    make_video(library / "b.mp4", 2, color=(0, 255, 0))
    index_dir = tmp_path / "index"
    first = build_index(_tiny_encoder, options(library, index_dir))
    assert (first.indexed, first.unchanged) == (2, 0)
    videos_before, segments_before = catalog(index_dir)

    again = build_index(_tiny_encoder, options(library, index_dir))
    assert (again.indexed, again.unchanged, again.removed, again.failed) == (0, 2, 0, [])
    assert catalog(index_dir)[1][0].id == segments_before[0].id

    make_video(library / "b.mp4", 3, color=(0, 0, 255))  # changed
    make_video(library / "c.mp4", 2, color=(9, 9, 9))  # new
    (library / "a.mp4").unlink()  # deleted
    third = build_index(_tiny_encoder, options(library, index_dir))
    assert (third.indexed, third.unchanged, third.removed) == (2, 0, 1)
    videos, segments = catalog(index_dir)
    assert sorted(videos) == ["b.mp4", "c.mp4"]
    assert videos["b.mp4"].duration == pytest.approx(3, abs=0.15)
    reader = IndexReader(index_dir)
    assert reader.count == len(segments) == 2
    assert all(reader.segment_vector(s.id) is not None for s in segments)
    assert reader.segment_vector(segments_before[0].id) is None  # a.mp4's vector is gone
    assert not (index_dir / "thumbs" / f"{segments_before[0].id}.jpg").exists()
    assert min(s.id for s in segments) > max(s.id for s in segments_before)  # ids are never reused


def test_every_file_failing_is_reported(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    library.mkdir()
    (library / "x.mp4").write_bytes(b"\0" * 1000)
    report = build_index(_tiny_encoder, options(library, tmp_path / "index"))
    assert report.all_failed and report.failed[0][0].endswith("x.mp4")


def test_other_model_needs_rebuild(tmp_path, built_index, library, _tiny_encoder):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    with pytest.raises(IndexMismatchError, match="frames"):
        build_index(_tiny_encoder, options(library, index_dir, frames=8))
    report = build_index(_tiny_encoder, options(library, index_dir, frames=8, rebuild=True))
    assert report.indexed == 4 and read_manifest(index_dir).frames == 8


def test_a_failed_build_leaves_the_published_index(tmp_path, built_index, library, _tiny_encoder, monkeypatch):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    before = current_generation(index_dir)
    make_video(library.parent / "extra" / "e.mp4", 1)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(IndexWriter, "add_video", explode)
    with pytest.raises(IndexWriteError, match="disk full"):
        build_index(_tiny_encoder, options(library.parent / "extra", index_dir))
    assert current_generation(index_dir) == before
    assert IndexReader(index_dir).count == 6
    assert not list((index_dir / "generations").glob(".staging-*"))


def test_one_build_at_a_time(tmp_path, built_index, _tiny_encoder):
    from indexer.pipeline.options import manifest_for

    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    writer = IndexWriter(index_dir, manifest_for(_tiny_encoder, options(tmp_path, index_dir)))
    try:
        with pytest.raises(IndexBusyError):
            IndexWriter(index_dir, manifest_for(_tiny_encoder, options(tmp_path, index_dir)))
    finally:
        writer.abort()


def test_external_catalog_url(tmp_path, _tiny_encoder):
    """--db-url: the catalog lives outside the index dir (PostgreSQL in production; a SQLite file here)."""
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 2)
    make_video(library / "b.mp4", 12)
    index_dir, url = tmp_path / "index", f"sqlite:///{tmp_path / 'catalog.db'}"
    first = build_index(_tiny_encoder, options(library, index_dir, db_url=url))
    assert first.indexed == 2 and read_manifest(index_dir).catalog == "external"
    assert not (current_generation(index_dir) / "catalog.db").exists()
    reader = IndexReader(index_dir, db_url=url)
    hits, total = reader.search(_tiny_encoder.encode_text(["x"])[0], k=10)
    assert total == 3 and set(reader.segments(i for i, _ in hits)) == {i for i, _ in hits}
    (library / "a.mp4").unlink()
    again = build_index(_tiny_encoder, options(library, index_dir, db_url=url))
    assert (again.removed, again.unchanged) == (1, 1)
    assert IndexReader(index_dir, db_url=url).count == 2
    rebuilt = build_index(_tiny_encoder, options(library, index_dir, db_url=url, rebuild=True))
    assert rebuilt.indexed == 1 and len(IndexReader(index_dir, db_url=url).videos()) == 1


def test_special_files_are_recorded_not_read(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "ok.mp4", 1)
    os.mkfifo(library / "endless.mp4")  # opening it for reading would block forever
    report = build_index(_tiny_encoder, options(library, tmp_path / "index"))
    assert report.indexed == 1
    assert report.failed == [(str(library / "endless.mp4"), "not a regular file")]


@pytest.mark.parametrize("index_type", ["hnsw", "ivfpq"])
def test_approximate_index_types(tmp_path, built_index, library, _tiny_encoder, index_type):
    index_dir = tmp_path / "index"
    report = build_index(_tiny_encoder, options(library, index_dir, index_type=index_type))
    assert report.indexed == 4
    manifest = read_manifest(index_dir)
    built = "flat" if index_type == "ivfpq" else index_type  # 6 vectors cannot train IVF-PQ codebooks
    assert manifest.index_type == built
    assert (current_generation(index_dir) / "search.faiss").is_file() == (built != "flat")
    approximate, exact = IndexReader(index_dir), IndexReader(built_index)
    query = _tiny_encoder.encode_text(["a blue clip"])[0]
    hits, total = approximate.search(query, k=6)
    expected, _ = exact.search(query, k=6)
    assert total == 6 and [round(s, 4) for _, s in hits] == [round(s, 4) for _, s in expected]
    segment_id = hits[0][0]
    np.testing.assert_allclose(approximate.segment_vector(segment_id), exact.segment_vector(expected[0][0]), atol=1e-6)


def test_index_type_is_chosen_by_size():
    from indexer.index_dir.ann import choose_index_type

    assert choose_index_type(5_000) == "flat"
    assert choose_index_type(500_000) == "hnsw"
    assert choose_index_type(50_000_000) == "ivfpq"
    assert choose_index_type(10, "hnsw") == "hnsw"
    assert choose_index_type(10, "ivfpq") == "flat" and choose_index_type(20_000, "ivfpq") == "ivfpq"
    with pytest.raises(ValueError):
        choose_index_type(10, "bogus")


def snapshot(index_dir):
    """Videos (name, status, error, spans), each segment's vector and poster bytes, by segment id."""
    reader = IndexReader(index_dir)
    videos, vectors, posters = {}, {}, {}
    for video in reader.videos():
        segments = reader.video(video.id).segments if video.status == "indexed" else []
        videos[Path(video.path).name] = (video.id, video.status, video.error, [(s.id, s.start, s.end) for s in segments])
        for s in segments:
            vectors[s.id] = reader.segment_vector(s.id)
            posters[s.id] = reader.thumbnail_path(s.id).read_bytes()
    reader.close()
    return videos, vectors, posters


def test_any_chunking_and_worker_count_gives_the_same_index(tmp_path, library, built_index, _tiny_encoder):
    """A video's first chunk comes back with its probe, the others from their own tasks: one segment per task, on
    one worker, gives the built_index's ids, spans, vectors and posters (its 25 s video: three tasks)."""
    index_dir = tmp_path / "index"
    report = build_index(_tiny_encoder, options(library, index_dir, chunk_segments=1, workers=1, batch_size=1))
    assert (report.indexed, report.segments) == (4, 6)
    videos, vectors, posters = snapshot(index_dir)
    expected_videos, expected_vectors, expected_posters = snapshot(built_index)
    assert videos == expected_videos and posters == expected_posters
    for segment_id, vector in expected_vectors.items():
        np.testing.assert_allclose(vectors[segment_id], vector, atol=1e-5)


def test_a_file_that_kills_its_worker_fails_alone(tmp_path, _tiny_encoder):
    """The pool is restarted and the files in flight retried; the files in flight with the crashing one are not
    blamed for its second crash (a file that was in flight during a crash is retried on its own)."""
    from indexer.pipeline.plan import CRASHED

    library = tmp_path / "lib"
    for name in ("a", "b", "crash", "d", "e", "f"):
        make_video(library / f"{name}.mp4", 2, size=(64, 48))
    decoder = "tests.indexer.plugins:CrashOnCrashFiles"
    report = build_index(_tiny_encoder, options(library, tmp_path / "index", decoder=decoder, workers=2))
    assert report.failed == [(str(library / "crash.mp4"), CRASHED)]
    assert (report.indexed, report.segments) == (5, 5)
    reader = IndexReader(tmp_path / "index")
    assert reader.count == 5


def test_decoded_segments_wait_for_a_slow_encoder_in_bounded_numbers(tmp_path, _tiny_encoder, monkeypatch):
    """When the encoder is the slower stage, decoding pauses instead of piling up frames (~2 MB a segment)."""
    import time

    from indexer.pipeline.commit import Committer

    library = tmp_path / "lib"
    for i in range(16):
        make_video(library / f"{i:02d}.mp4", 1, size=(64, 48))
    decoded, embedded, waiting = [0], [0], []

    def frames_arrived(self, segments, original=Committer.frames_arrived):
        decoded[0] += segments
        waiting.append(decoded[0] - embedded[0])
        original(self, segments)

    class SlowEncoder:
        def __init__(self, encoder):
            self.encoder = encoder

        def __getattr__(self, name):
            return getattr(self.encoder, name)

        def encode_videos(self, clips):
            time.sleep(0.3)
            embedded[0] += len(clips)
            return self.encoder.encode_videos(clips)

    monkeypatch.setattr(Committer, "frames_arrived", frames_arrived)
    report = build_index(SlowEncoder(_tiny_encoder), options(library, tmp_path / "index", batch_size=2, workers=2))
    assert (report.indexed, report.segments) == (16, 16)
    # 2 batches waiting, plus what the tasks in flight (2 per worker, one segment each here) brought back
    assert max(waiting) <= 2 * 2 + 2 * 2 + 2  # + the batch being embedded
    assert report.startup_seconds > 0 and report.startup_segments == 1 and report.publish_seconds > 0


def test_embedding_threads_leave_the_decoders_their_cores():
    """torch gets the cores the decode workers leave (at least one) when it had to wait for the decoders, else all
    its threads; the process's own thread count is put back at the end."""
    import threading

    import torch

    from indexer.pipeline.workers import EmbedThreads

    class RecordingEncoder:
        def __init__(self):
            self.seen = []  # torch's thread count during each batch

        def encode_videos(self, clips):
            self.seen.append(torch.get_num_threads())
            return np.zeros((len(clips), 4), dtype=np.float32)

    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0))
    threads = EmbedThreads(workers=cores)
    encoder = RecordingEncoder()

    def embed_twice():
        threads.embed(encoder, [np.zeros((1, 2, 2, 3), np.uint8)], share_cores=True)
        threads.embed(encoder, [np.zeros((1, 2, 2, 3), np.uint8)], share_cores=False)

    worker = threading.Thread(target=embed_twice)  # as in the build: a thread of its own
    worker.start()
    worker.join()
    threads.restore()
    assert encoder.seen == [1, before]  # as many workers as cores: one thread for torch
    assert torch.get_num_threads() == before


class BatchRecorder:
    """The tiny encoder, choosing ``chosen`` segments a batch (as a GPU sizes its batches to its memory) and
    recording the size of each batch it is handed."""

    def __init__(self, encoder, chosen: int):
        self.encoder, self.chosen, self.batches = encoder, chosen, []

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def batch_size_for_memory(self, frames, short_side):
        return self.chosen

    def encode_videos(self, clips):
        self.batches.append(len(clips))
        return self.encoder.encode_videos(clips)


@pytest.mark.parametrize(("batch_size", "largest"), [(None, 3), (2, 2)])
def test_batches_are_the_encoders_choice_unless_given(tmp_path, _tiny_encoder, batch_size, largest):
    """--batch-size auto (None) embeds in batches of the encoder's choice; a number given wins over it."""
    library = tmp_path / "lib"
    for i in range(8):
        make_video(library / f"{i}.mp4", 1, size=(64, 48))
    encoder = BatchRecorder(_tiny_encoder, chosen=3)
    report = build_index(encoder, options(library, tmp_path / "index", batch_size=batch_size))
    assert (report.indexed, report.segments) == (8, 8)
    assert sum(encoder.batches) == 8 and max(encoder.batches) == largest
