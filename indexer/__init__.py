"""The offline side of vidseek: scan a library, decode, segment, embed, and publish an index dir.

Importing this package is cheap and torch-free; decode workers import only :mod:`indexer.decode`
and :mod:`indexer.segment`.
"""
