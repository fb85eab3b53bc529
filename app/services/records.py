"""The current generation's segment records by id, kept once read, for the searches' candidates.

Every search by words reads the catalog records of its candidates (a page of moments: the top 256 segments) to
merge touching ones, and a hybrid one those of its words' matches too. Queries' candidates repeat: the segments
nearest to many queries (a library's typical scenes, a CLIP space's hubs) come back query after query. A published
generation never changes (its reader caches its facets so too), so a record read once stands for that reader's
life; a reload (a new reader) starts afresh. Ids the catalog lacks are not kept: they are asked again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from indexer import IndexReader, SegmentRecord

CAPACITY = 65_536  # records kept (the least recently used go first): ~250 pages of distinct candidates


class RecordCache:
    """``records(reader, ids)``: ``reader.segments(ids)``, from memory for the ids read before from this reader."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._reader: IndexReader | None = None
        self._records: OrderedDict[int, SegmentRecord] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # ids answered from memory / from the catalog (for the benchmark)

    def records(self, reader: IndexReader, ids: Iterable[int]) -> dict[int, SegmentRecord]:
        """The records of ``ids`` that ``reader``'s catalog holds, by id (as ``reader.segments``)."""
        ids = list(dict.fromkeys(ids))
        found: dict[int, SegmentRecord] = {}
        missing: list[int] = []
        with self._lock:
            if reader is not self._reader:
                self._reader, self._records = reader, OrderedDict()
            for segment_id in ids:
                record = self._records.get(segment_id)
                if record is None:
                    missing.append(segment_id)
                else:
                    self._records.move_to_end(segment_id)
                    found[segment_id] = record
        self.hits += len(found)
        self.misses += len(missing)
        if not missing:
            return found
        read = reader.segments(missing)
        with self._lock:
            if reader is self._reader:
                self._records.update(read)
                while len(self._records) > self.capacity:
                    self._records.popitem(last=False)
        found.update(read)
        return found
