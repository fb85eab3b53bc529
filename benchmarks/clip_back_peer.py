"""The clip-retrieval side of bench_peer.py; it runs in the peer's own virtualenv, never in vidseek's.

    PEER_PYTHON clip_back_peer.py prepare EXPORT.npz INDICE_FOLDER [--metadata parquet|arrow]
    PEER_PYTHON clip_back_peer.py serve CLIP_BACK_KWARGS_JSON

``prepare`` writes the folder `clip-retrieval back` serves (what `clip-retrieval index` would write):
``image.index``, a FAISS ``IndexFlatIP`` holding the exported vectors in the exported order, so a result id
is a row of ``metadata/`` (segment id, video id, path as ``url``, file name as ``caption``, start, end).
``serve`` calls clip_retrieval.clip_back.clip_back(**kwargs) unchanged except that Flask listens on
127.0.0.1 instead of 0.0.0.0, and exits if the benchmark that started it dies.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from importlib.metadata import version
from pathlib import Path


def prepare(export: Path, folder: Path, metadata: str) -> None:
    import faiss
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    data = np.load(export)
    vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(folder / "image.index"))
    paths = [str(p) for p in data["path"]]
    table = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "segment_id": data["segment_id"].astype(np.int64),
                "video_id": data["video_id"].astype(np.int64),
                "url": paths,
                "caption": [Path(p).name for p in paths],
                "start": data["start"].astype(np.float64),
                "end": data["end"].astype(np.float64),
            }
        ),
        preserve_index=False,
    )
    if metadata == "arrow":
        with pa.ipc.new_file(str(folder / "metadata" / "0000.arrow"), table.schema) as writer:
            writer.write_table(table)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, folder / "metadata" / "0000.parquet")


def _exit_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def serve(kwargs: dict) -> None:
    import flask
    import torch
    from clip_retrieval.clip_back import clip_back

    _exit_with_parent()
    run = flask.Flask.run

    def run_on_loopback(self, host=None, port=None, **options):
        return run(self, host="127.0.0.1", port=port, **options)

    flask.Flask.run = run_on_loopback
    info = {
        "clip_retrieval": version("clip-retrieval"),
        "open_clip": version("open_clip_torch"),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": version("faiss-cpu"),
    }
    print("PEER-INFO " + json.dumps(info), flush=True)
    clip_back(**kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare")
    p.add_argument("export", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("--metadata", choices=("parquet", "arrow"), default="parquet")
    s = commands.add_parser("serve")
    s.add_argument("kwargs", help="clip_back's keyword arguments as JSON")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.export, args.folder, args.metadata)
    else:
        serve(json.loads(args.kwargs))


if __name__ == "__main__":
    main()
