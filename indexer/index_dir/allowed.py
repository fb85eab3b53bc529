"""Allowed sets (a filter's segment ids) as one index holds them: the ids it has and their vectors' row positions,
for an exact scan of those rows or a FAISS selector over them; :class:`IdPositions` maps a set to its rows and keeps
the last few it mapped."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from functools import cached_property

import faiss
import numpy as np
import torch

SUBSETS_CACHED = 8  # allowed sets whose positions are kept (a reader hands out one array per kind)


class Subset:
    """An allowed set as one index holds it: the ids of it that the index has (sorted) and their vectors' row
    positions, for a scan (``tensor``) or a FAISS selector (``selector``)."""

    def __init__(self, ids: np.ndarray, positions: np.ndarray, rows: int):
        self.ids, self.positions, self.rows = ids, positions, rows

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.positions)

    @cached_property
    def _bitmap(self) -> np.ndarray:
        member = np.zeros(self.rows, bool)
        member[self.positions] = True
        return np.packbits(member, bitorder="little")  # IDSelectorBitmap's bit order: bit (i & 7) of byte i >> 3

    def selector(self) -> faiss.IDSelector:
        """A FAISS selector of these row positions (one bit per row: O(1) membership); it reads memory this
        subset owns, so keep the subset alive while it is used."""
        return faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(self._bitmap))


class IdPositions:
    """Where each segment id's vector lies in an index (an IDMap keeps its ids in insertion order), and the
    :class:`Subset` of an allowed set; the last few asked for are kept, keyed by the array itself."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids  # by row
        self.order = np.argsort(ids, kind="stable")
        self.sorted = ids[self.order]
        self.rows = len(ids)
        self._cache: OrderedDict[int, tuple[weakref.ref, Subset]] = OrderedDict()
        self._lock = threading.Lock()

    def subset(self, allowed: np.ndarray) -> Subset:
        """Only a read-only array is kept (it cannot change under its key), as :meth:`IndexReader.segment_ids` gives."""
        if not isinstance(allowed, np.ndarray) or allowed.flags.writeable:
            return self._map(allowed)
        with self._lock:
            held = self._cache.get(id(allowed))
            if held is not None and held[0]() is allowed:
                self._cache.move_to_end(id(allowed))
                return held[1]
        subset = self._map(allowed)
        with self._lock:
            self._cache[id(allowed)] = (weakref.ref(allowed), subset)
            while len(self._cache) > SUBSETS_CACHED:
                self._cache.popitem(last=False)
        return subset

    def _map(self, allowed) -> Subset:
        allowed = np.asarray(allowed, dtype=np.int64).ravel()
        if len(allowed) > 1 and not bool(np.all(allowed[1:] > allowed[:-1])):
            allowed = np.unique(allowed)  # documented as sorted; a caller's unsorted or repeated ids still work
        if self.rows == 0 or len(allowed) == 0:
            return Subset(np.zeros(0, np.int64), np.zeros(0, np.int64), self.rows)
        at = np.minimum(np.searchsorted(self.sorted, allowed), self.rows - 1)
        held = self.sorted[at] == allowed
        return Subset(allowed[held], self.order[at[held]].astype(np.int64), self.rows)
