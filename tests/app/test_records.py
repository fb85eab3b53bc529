"""The search side's record cache (app/services/records.py) over a real index: the catalog's answers, each record
read once per reader, a new reader read afresh, the least recently used dropped first; and searches answered as
the catalog reads."""

from contextlib import closing

from app.services import VidseekService
from app.services.records import RecordCache
from app.settings import Settings
from indexer import open_index


class CountingReader:
    """A real reader that counts the ids asked of its catalog."""

    def __init__(self, reader):
        self.reader = reader
        self.asked: list[list[int]] = []

    def segments(self, ids):
        ids = list(ids)
        self.asked.append(ids)
        return self.reader.segments(ids)


def test_records_are_the_catalogs_read_once_per_reader(built_index):
    with closing(open_index(built_index)) as opened:
        reader = CountingReader(opened)
        ids = [int(i) for i in opened.segment_ids()]
        assert len(ids) >= 4
        cache = RecordCache()
        first = cache.records(reader, ids[:3] + [10**9])  # an id the catalog lacks
        assert first == opened.segments(ids[:3]) and 10**9 not in first
        again = cache.records(reader, reversed(ids))
        assert again == opened.segments(ids)
        assert reader.asked == [ids[:3] + [10**9], [i for i in reversed(ids) if i not in ids[:3]]]
        assert cache.records(reader, ids) == again and len(reader.asked) == 2  # all from memory now
        assert cache.records(reader, [10**9]) == {} and reader.asked[-1] == [10**9]  # a missing id is asked again
        assert cache.records(reader, []) == {} and len(reader.asked) == 3
        other = CountingReader(opened)  # a reload: another reader, read afresh
        assert cache.records(other, ids[:1]) == opened.segments(ids[:1]) and other.asked == [ids[:1]]


def test_the_least_recently_used_records_go_first(built_index):
    with closing(open_index(built_index)) as opened:
        reader = CountingReader(opened)
        ids = [int(i) for i in opened.segment_ids()][:4]
        cache = RecordCache(capacity=2)
        cache.records(reader, ids[:2])
        cache.records(reader, ids[:1])  # ids[0] used again: ids[1] is the oldest now
        cache.records(reader, ids[2:3])  # over capacity: ids[1] goes
        reader.asked.clear()
        assert cache.records(reader, ids[:3]) == opened.segments(ids[:3])
        assert reader.asked == [[ids[1]]]


def test_searches_answer_as_the_catalog_reads(built_index, _tiny_encoder):
    service = VidseekService(Settings(index_dir=built_index), encoder=_tiny_encoder)
    for mode in ("visual", "hybrid", "text"):
        for group in ("segment", "moment", "video"):
            first = service.search_text("red", 5, group=group, ranking=mode)
            assert service.search_text("red", 5, group=group, ranking=mode) == first  # the second from memory
    assert service.search.records.hits > 0 and service.search.records.misses > 0
    rows, total = service.search_text("blue", 8, group="segment", ranking="visual")
    catalog = service.require_reader().segments(h.segment.segment_id for h in rows)
    assert total >= len(rows) > 0 and all(catalog[h.segment.segment_id] == h.segment for h in rows)
    service.queries.close()
