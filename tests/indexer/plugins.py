"""Decoder plugins (``--decoder module:Class``) for the build tests, in a module of their own: every decode worker
imports the plugin's module, and a test module would bring torch into each of them (seconds per worker)."""

import os
from pathlib import Path

from indexer.decoders import get_decoder


class CrashOnCrashFiles:
    """PyAV, except that reading frames of a file named crash* kills the worker process (a decoder segfault)."""

    name = "crashing"

    def probe(self, path):
        return get_decoder("pyav").probe(path)

    def read(self, path, times, short_side):
        if Path(path).name.startswith("crash"):
            os._exit(139)
        return get_decoder("pyav").read(path, times, short_side)
