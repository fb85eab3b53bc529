"""The offline side of vidseek: scan a library, decode, segment, embed, and publish an index dir.

This package is also the read facade the server uses: :func:`open_index` gives an :class:`IndexReader` (search,
segments and videos as plain records), :func:`read_manifest` a published index's :class:`Manifest`, and
:func:`compatibility_problems` says whether a model fits it. The names load on first use, so importing the package
is cheap and torch-free: decode workers import only the decoding modules.
"""

from importlib import import_module

# Where each public name lives. They load on first use (PEP 562), so `import indexer.<light module>` loads no faiss.
_HOMES = {
    "IndexReader": "indexer.index_dir.reader",
    "open_index": "indexer.index_dir.reader",
    "Manifest": "indexer.index_dir.manifest",
    "ModelIdentity": "indexer.index_dir.manifest",
    "MODEL_FIELDS": "indexer.index_dir.manifest",
    "compatibility_problems": "indexer.index_dir.manifest",
    "read_manifest": "indexer.index_dir.manifest",
    "SegmentRecord": "indexer.index_dir.records",
    "VideoRecord": "indexer.index_dir.records",
    "VideoFilter": "indexer.index_dir.records",
    "Facets": "indexer.index_dir.records",
    "VIDEO_FAILED": "indexer.index_dir.records",
    "VIDEO_INDEXED": "indexer.index_dir.records",
    "VIDEO_KIND": "indexer.index_dir.records",
    "PHOTO_KIND": "indexer.index_dir.records",
    "VideoFile": "indexer.index_dir.video_files",
    "JobStore": "indexer.index_dir.jobs",
    "JobRecord": "indexer.index_dir.jobs",
    "QUEUED": "indexer.index_dir.jobs",
    "RUNNING": "indexer.index_dir.jobs",
    "DONE": "indexer.index_dir.jobs",
    "FAILED": "indexer.index_dir.jobs",
    "CANCELLED": "indexer.index_dir.jobs",
    "current_generation": "indexer.index_dir.layout",
    "published_name": "indexer.index_dir.layout",
    "IndexerError": "indexer.errors",
    "IndexCatalogError": "indexer.errors",
    "ExternalCatalogError": "indexer.errors",
    "IndexMismatchError": "indexer.errors",
    "IndexNotFoundError": "indexer.errors",
    "VideoFileError": "indexer.errors",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
