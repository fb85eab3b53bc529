"""What watching a large library costs: the watcher's memory and descriptors on a big tree under a steady stream
of changes, and how soon and how completely it reports them, per observer (issue 20, point 4).

    nice -n 10 python benchmarks/bench_watch.py [--files 100000] [--folders 5000] [--minutes 10] [--rate 20]
        [--modes native,polling] [--settle-seconds 5] [--poll-seconds 10] [--sample-seconds 5] [--tmp-dir DIR]

A tree of ``--files`` tiny files (9 in 10 with video endings, 1 in 10 .txt/.nfo/.srt) in ``--folders`` folders, 16
to a parent, is written under ``--tmp-dir`` (default: the system's temp dir; its file system is printed). The modes
run one after another, each on a fresh tree from the same seed (the same tree and changes, the CPUs alone).
``LibraryWatcher`` (``polling`` False or True) runs in a process of its own whose callback only logs the time and
the paths it is handed, outside the tree: no build runs. This process makes ``--rate`` changes a second for
``--minutes`` (create, append to, move to another folder, delete a file; create a folder of ``--folder-files``
files, remove a leaf folder), reads the watcher's /proc/PID every ``--sample-seconds`` (VmRSS, VmHWM, fds, inotify
watches, threads, CPU), then waits a drain (settle plus two polls) and stops the watcher.

Per mode: seconds for ``start()`` to return (watches added or the first snapshot taken), RSS before start
(interpreter and imports), after it, peak (VmHWM), at the end, growth (end of the changes minus the first sample
at one minute, or half the run if shorter) and a least-squares slope over that window, descriptors and watches,
CPU %, inotify queue overflows (watchdog's "events were lost": it drops what was queued and re-adds every
watch); and for the changed paths (a move counts source and destination, a folder itself and its files) how many
a callback named after the change, and the latency p50/p95 from the writer's close to that callback (both on
CLOCK_MONOTONIC). The goal: peak RSS <= 200 MB and no growth (fitted growth over the window <= 5 MB, descriptors
at the end no more than at one minute). Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watchdog.utils.dirsnapshot import DirectorySnapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_MB = 200.0
GROWTH_MB = 5.0  # fitted growth over the window at most this counts as none
FANOUT = 16
FILE_BYTES = 64  # each file's size, and each append's
VIDEO = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts", ".mpg", ".wmv")
OTHER = (".txt", ".nfo", ".srt")
OPS = {"create": 0.25, "append": 0.25, "move": 0.20, "delete": 0.25, "mkdir": 0.025, "rmdir": 0.025}
CLK_TCK = os.sysconf("SC_CLK_TCK")
INOTIFY_LIMITS = ("max_user_watches", "max_user_instances", "max_queued_events")


class IndexedSet:
    """Members in a list and their places in a dict: random choice and removal in O(1)."""

    def __init__(self):
        self.items, self.where = [], {}

    def add(self, item) -> None:
        self.where[item] = len(self.items)
        self.items.append(item)

    def remove(self, item) -> None:
        place, last = self.where.pop(item), self.items.pop()
        if place < len(self.items):
            self.items[place], self.where[last] = last, place

    def choice(self, rng: random.Random):
        return self.items[rng.randrange(len(self.items))]


class Tree:
    """The library on disk and the writer's model of it. Each change (a method named as in :data:`OPS`) returns the
    paths it touched; new folders go under the first tree's inner folders and only leaves are removed."""

    def __init__(self, root: Path, rng: random.Random, file_bytes: int, folder_files: int):
        self.root, self.rng, self.payload, self.folder_files = root, rng, b"x" * file_bytes, folder_files
        self.folders, self.leaves, self.files = IndexedSet(), IndexedSet(), IndexedSet()
        self.inner, self.count = [], 0  # the first tree's folders that have subfolders; names made so far

    def build(self, files: int, folders: int) -> None:
        made = [self.root / f"d{i:05d}" for i in range(FANOUT)]
        while len(made) < folders:
            made.append(made[len(made) // FANOUT - 1] / f"d{len(made):05d}")
        made = made[:folders]
        for folder in made:
            folder.mkdir()
            self.folders.add(folder)
            (self.leaves.add if FANOUT * (int(folder.name[1:]) + 1) >= folders else self.inner.append)(folder)
        for j in range(files):
            self._write(made[j % folders] / f"f{j:06d}{VIDEO[j % len(VIDEO)] if j % 10 else OTHER[j // 10 % 3]}")

    def _name(self, prefix: str, suffix: str | None = None) -> str:
        self.count += 1
        if suffix is None:
            suffix = self.rng.choice(VIDEO) if self.rng.random() < 0.9 else self.rng.choice(OTHER)
        return f"{prefix}{self.count:06d}{suffix}"

    def _write(self, path: Path) -> Path:
        path.write_bytes(self.payload)
        self.files.add(path)
        return path

    def create(self) -> list[Path]:
        return [self._write(self.folders.choice(self.rng) / self._name("c"))]

    def append(self) -> list[Path]:
        path = self.files.choice(self.rng)
        with path.open("ab") as out:
            out.write(self.payload)
        return [path]

    def move(self) -> list[Path]:
        source = self.files.choice(self.rng)
        target = self.folders.choice(self.rng) / self._name("m", source.suffix)
        source.rename(target)
        self.files.remove(source)
        self.files.add(target)
        return [source, target]

    def delete(self) -> list[Path]:
        path = self.files.choice(self.rng)
        path.unlink()
        self.files.remove(path)
        return [path]

    def mkdir(self) -> list[Path]:
        folder = (self.rng.choice(self.inner) if self.inner else self.root) / self._name("n", "")
        folder.mkdir()
        self.folders.add(folder)
        self.leaves.add(folder)
        return [folder] + [self._write(folder / self._name("c")) for _ in range(self.folder_files)]

    def rmdir(self) -> list[Path]:
        folder = self.leaves.choice(self.rng)
        inside = list(folder.iterdir())
        shutil.rmtree(folder)
        for path in inside:
            self.files.remove(path)
        self.leaves.remove(folder)
        self.folders.remove(folder)
        return [folder, *inside]


def status(pid: int) -> dict[str, str]:
    return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)


def sample(pid: int, t: float) -> dict:
    """The watcher process's memory, descriptors, inotify watches, threads and CPU seconds now."""
    fds, watches = os.listdir(f"/proc/{pid}/fd"), 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                watches += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            pass
    stat, fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split(), status(pid)
    mb = {key: int(fields[field].split()[0]) / 1024 for key, field in (("rss_mb", "VmRSS"), ("hwm_mb", "VmHWM"))}
    cpu_s = (int(stat[11]) + int(stat[12])) / CLK_TCK
    return {"t": t, **mb, "fds": len(fds), "watches": watches, "threads": int(fields["Threads"]), "cpu_s": cpu_s}


def run_watcher(args) -> None:
    """The watcher's own process: watch, log each callback as a line of JSON, stop when stdin closes."""
    from indexer.pipeline.watch import LibraryWatcher

    events = open(args.events, "a", buffering=1)  # open for the process's life

    def record(paths: list[Path]) -> None:
        events.write(json.dumps([time.monotonic(), [str(path) for path in paths]]) + "\n")

    rss_before, started = int(status(os.getpid())["VmRSS"].split()[0]) / 1024, time.monotonic()
    polling = args.watcher_child == "polling"
    watcher = LibraryWatcher(
        args.library, record, settle_seconds=args.settle_seconds, polling=polling, poll_seconds=args.poll_seconds
    )
    watcher.start()
    start_s = time.monotonic() - started
    print(json.dumps({"how": watcher.how, "start_s": start_s, "rss_before_mb": rss_before}), flush=True)
    sys.stdin.read()
    started, pending = time.monotonic(), watcher.pending
    watcher.stop()
    print(json.dumps({"stop_s": time.monotonic() - started, "pending_at_stop": pending}), flush=True)


def start_watcher(mode: str, args, root: Path, events: Path, log: Path) -> tuple[subprocess.Popen, dict]:
    """The watcher's process (its stderr, watchdog's warnings, into ``log``) once it is watching, and what it said."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--watcher-child", mode, "--library", str(root), "--events", str(events),
         "--settle-seconds", str(args.settle_seconds), "--poll-seconds", str(args.poll_seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )  # fmt: skip
    line = child.stdout.readline()
    if not line:
        sys.exit(f"{mode}: the watcher process died before it was watching (exit status {child.wait()})")
    return child, json.loads(line)


def drive(tree: Tree, pid: int, args, seconds: float, drain: float) -> tuple[list, list]:
    """``args.rate`` changes a second for ``seconds``, then none for ``drain``; the watcher sampled throughout.
    Returns the changes (time finished, kind, paths) and the samples."""
    rng, changes, samples = random.Random(args.seed + 1), [], []
    t0 = next_op = next_sample = time.monotonic()
    stream_end, end = t0 + seconds, t0 + seconds + drain
    while (now := time.monotonic()) < end:
        if now >= next_sample:
            samples.append(sample(pid, now - t0))
            next_sample += args.sample_seconds
        if next_op <= now < stream_end:
            op = rng.choices(list(OPS), list(OPS.values()))[0]
            paths = getattr(tree, op)()  # the Tree method of that name
            changes.append((time.monotonic(), op, [str(path) for path in paths]))
            next_op += 1 / args.rate
        else:
            time.sleep(max(0.0, min(next_sample, next_op if now < stream_end else end, end) - time.monotonic()))
    return changes, samples


def measure_mode(mode: str, args, base: Path) -> dict:
    """One row: a fresh tree, its watcher in a process of its own, the changes, and what the watcher said."""
    root, events, log = (base / f"library-{mode}").resolve(), base / f"events-{mode}.jsonl", base / f"watcher-{mode}.log"
    root.mkdir()
    tree = Tree(root, random.Random(args.seed), FILE_BYTES, args.folder_files)
    started = time.monotonic()
    tree.build(args.files, args.folders)
    print(f"{mode}: wrote the tree in {time.monotonic() - started:.1f}s", file=sys.stderr)
    started, snapshot_s = time.monotonic(), None
    if mode == "polling":  # what each poll costs before its diff: one snapshot of the whole tree
        DirectorySnapshot(str(root), recursive=True)
        snapshot_s = time.monotonic() - started
    lasting = {str(path) for path in tree.files.items + tree.folders.items}  # there at the start
    child, ready = start_watcher(mode, args, root, events, log)
    seconds = args.minutes * 60
    drain = args.settle_seconds + 5 + (2 * (args.poll_seconds + snapshot_s) if snapshot_s is not None else 0)
    changes, samples = drive(tree, child.pid, args, seconds, drain)
    child.stdin.close()
    stopped = json.loads(child.stdout.readline() or "{}")
    child.wait(timeout=60)
    overflows = log.read_text().count("filesystem events were lost")  # watchdog's warning at each IN_Q_OVERFLOW
    callbacks = [json.loads(line) for line in events.read_text().splitlines()]
    shutil.rmtree(root)
    row = {"mode": mode, **ready, **stopped, "snapshot_s": snapshot_s, "seconds": seconds, "drain_s": drain}
    row["inotify_overflows"] = overflows
    lasting.update(str(path) for path in tree.files.items + tree.folders.items)  # or at the end
    row.update(memory(samples, seconds), **notifications(changes, callbacks, seconds, lasting))
    row.update(folders_end=len(tree.folders.items), files_end=len(tree.files.items))
    row["goal_met"] = row["peak_mb"] <= GOAL_MB and row["growth_fit_mb"] <= GROWTH_MB and row["fds_end"] <= row["fds_base"]
    return row


def memory(samples: list[dict], seconds: float) -> dict:
    """RSS, descriptors and watches at start, peak and end; growth over the window past the warm-up."""
    during = [s for s in samples if s["t"] <= seconds] or samples
    window = [s for s in during if s["t"] >= min(60.0, seconds / 2)] or during[-1:]
    times, rss = [s["t"] / 60 for s in window], [s["rss_mb"] for s in window]
    slope = statistics.linear_regression(times, rss).slope if len(set(times)) > 1 else 0.0
    first, last = samples[0], samples[-1]
    spans = {}
    for key in ("fds", "watches"):
        at = (first[key], window[0][key], max(s[key] for s in samples), last[key])
        spans.update(zip((f"{key}_start", f"{key}_base", f"{key}_peak", f"{key}_end"), at))
    return {
        "rss_start_mb": first["rss_mb"], "rss_base_mb": window[0]["rss_mb"], "rss_end_mb": last["rss_mb"],
        "peak_mb": max(last["hwm_mb"], max(s["rss_mb"] for s in samples)),
        "growth_mb": during[-1]["rss_mb"] - window[0]["rss_mb"], "slope_mb_per_min": slope,
        "growth_fit_mb": slope * (times[-1] - times[0]), "threads": max(s["threads"] for s in samples), **spans,
        "cpu_pct": 100 * (during[-1]["cpu_s"] - first["cpu_s"]) / max(during[-1]["t"] - first["t"], 1e-9),
        "cpu_pct_drain": 100 * (last["cpu_s"] - during[-1]["cpu_s"]) / max(last["t"] - during[-1]["t"], 1e-9),
    }  # fmt: skip


def notifications(changes: list[tuple], callbacks: list, seconds: float, lasting: set[str]) -> dict:
    """Each changed path matched with the first callback at or after the change that names it; missed: paths there
    at the start or the end (not made and removed within the run) whose last change no callback named."""
    named: dict[str, list[float]] = {}
    for t, paths in callbacks:
        for path in paths:
            named.setdefault(path, []).append(t)
    latencies, per_op, last_told = [], {op: [0, 0] for op in OPS}, {}  # path -> whether its last change was named
    for t_done, op, paths in changes:
        for path in paths:
            times = named.get(path, [])
            place = bisect.bisect_left(times, t_done)
            per_op[op][0] += 1
            last_told[path] = place < len(times)
            if place < len(times):
                per_op[op][1] += 1
                latencies.append(times[place] - t_done)
    latencies.sort()
    p50, p95 = (latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None for q in (0.5, 0.95))
    made = sum(made for made, _ in per_op.values())
    return {
        "ops": len(changes), "ops_per_s": len(changes) / seconds, "paths_changed": made, "paths_reported": len(latencies),
        "reported_share": len(latencies) / made if made else 0.0,
        "missed": sum(not told for path, told in last_told.items() if path in lasting),
        "other_paths_reported": len(set(named) - set(last_told)), "callbacks": len(callbacks),
        "paths_per_callback": sum(len(paths) for _, paths in callbacks) / len(callbacks) if callbacks else 0.0,
        "latency_p50_s": p50, "latency_p95_s": p95,
        "latency_max_s": latencies[-1] if latencies else None,
        "per_op": {op: {"changed": m, "reported": r} for op, (m, r) in per_op.items()},
    }  # fmt: skip


def print_rows(rows: list[dict], columns: dict[str, tuple[str, int, str]]) -> None:
    """A table: a row per mode, ``columns`` as header -> (row key, width, format); None shows as -."""
    print(f"\n{'mode':<9}" + "".join(f"{name:>{width}}" for name, (_, width, _) in columns.items()))
    for row in rows:
        cells = ("-" if row[key] is None else format(row[key], spec) for key, _, spec in columns.values())
        print(f"{row['mode']:<9}" + "".join(f"{cell:>{width}}" for cell, (_, width, _) in zip(cells, columns.values())))


def print_tables(args, rows: list[dict], base: Path, tmp_fs: str, limits: dict) -> None:
    print(
        f"\n{args.files} files in {args.folders} folders under {base} ({tmp_fs}), {args.minutes:g} min of "
        f"changes at {args.rate:g}/s per mode, modes one after another on a fresh tree each; settle "
        f"{args.settle_seconds:g}s, poll {args.poll_seconds:g}s; inotify max_user_watches "
        f"{limits['max_user_watches']}, max_user_instances {limits['max_user_instances']}; {os.cpu_count()} CPUs"
    )
    for row in rows:
        row["fds"] = f"{row['fds_start']}/{row['fds_peak']}/{row['fds_end']}"
        row["watches"] = f"{row['watches_start']}/{row['watches_peak']}/{row['watches_end']}"
        row["goal"] = "met" if row["goal_met"] else "MISSED"
    print_rows(rows, {
        "start s": ("start_s", 8, ".2f"), "RSS pre MB": ("rss_before_mb", 11, ".1f"),
        "RSS start": ("rss_start_mb", 10, ".1f"), "peak": ("peak_mb", 8, ".1f"), "end": ("rss_end_mb", 8, ".1f"),
        "growth": ("growth_mb", 8, "+.1f"), "MB/min": ("slope_mb_per_min", 8, "+.3f"),
        "fds s/p/e": ("fds", 11, "s"), "watches s/p/e": ("watches", 18, "s"), "thr": ("threads", 5, "d"),
        "CPU %": ("cpu_pct", 7, ".1f"), "overflows": ("inotify_overflows", 10, "d"), "goal": ("goal", 7, "s"),
    })  # fmt: skip
    print_rows(rows, {
        "ops": ("ops", 7, "d"), "ops/s": ("ops_per_s", 7, ".1f"), "paths": ("paths_changed", 8, "d"),
        "reported": ("paths_reported", 9, "d"), "share": ("reported_share", 8, ".1%"),
        "missed": ("missed", 7, "d"), "others": ("other_paths_reported", 7, "d"),
        "callbacks": ("callbacks", 10, "d"), "paths/cb": ("paths_per_callback", 9, ".1f"),
        "p50 s": ("latency_p50_s", 7, ".1f"), "p95 s": ("latency_p95_s", 7, ".1f"), "max s": ("latency_max_s", 7, ".1f"),
        "snapshot s": ("snapshot_s", 11, ".2f"),
    })  # fmt: skip
    for row in rows:
        ops = ", ".join(f"{op} {v['reported']}/{v['changed']}" for op, v in row["per_op"].items())
        print(
            f"\n{row['mode']}: {row['how']}; paths reported/changed by change: {ops}; CPU {row['cpu_pct_drain']:.1f} % "
            f"in the drain; {row['pending_at_stop']} pending at stop"
        )
        if row["watches_start"] and row["watches_start"] < args.folders + 1:
            print(f"note: {row['mode']} holds {row['watches_start']} inotify watches for {args.folders + 1} folders")
        print(f"goal ({row['mode']}): peak RSS {row['peak_mb']:.1f} MB (<= {GOAL_MB:g}), fitted growth "
              f"{row['growth_fit_mb']:+.1f} MB over the window (<= {GROWTH_MB:g}), fds {row['fds_base']} -> "
              f"{row['fds_end']}: {row['goal']}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=5_000)
    parser.add_argument("--minutes", type=float, default=10.0, help="of changes, per mode")
    parser.add_argument("--rate", type=float, default=20.0, help="changes a second")
    parser.add_argument("--modes", default="native,polling")
    parser.add_argument("--settle-seconds", type=float, default=5.0, help="the watcher's (as `index watch`)")
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="the polling observer's interval")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="how often /proc/PID is read")
    parser.add_argument("--folder-files", type=int, default=None, help="files in a new folder (default: files/folders)")
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()), help="where the tree is written")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--watcher-child", choices=["native", "polling"], help=argparse.SUPPRESS)
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not args.modes or set(args.modes) - {"native", "polling"}:
        parser.error("--modes takes native and/or polling")
    if args.folders < 1 or args.files < args.folders or args.rate <= 0 or args.minutes <= 0:
        parser.error("give at least one folder, at least as many files as folders, and a positive --rate and --minutes")
    args.folder_files = args.folder_files or max(1, args.files // args.folders)
    return args


def main() -> None:
    args = parse_args()
    if args.watcher_child:
        return run_watcher(args)
    limits = {name: int(Path(f"/proc/sys/fs/inotify/{name}").read_text()) for name in INOTIFY_LIMITS}
    with tempfile.TemporaryDirectory(prefix="bench-watch-", dir=args.tmp_dir) as tmp:
        base = Path(tmp).resolve()
        tmp_fs = subprocess.run(["df", "--output=fstype", tmp], capture_output=True, text=True).stdout.split()[-1]
        rows = [measure_mode(mode, args, base) for mode in args.modes]
        print_tables(args, rows, base, tmp_fs, limits)
        settings = ("files", "folders", "minutes", "rate", "settle_seconds", "poll_seconds", "sample_seconds")
        summary = {"benchmark": "watch", **{key: getattr(args, key) for key in settings}, "tmp_fs": tmp_fs}
        summary.update(cpus=os.cpu_count(), inotify=limits, goal_mb=GOAL_MB, goal_growth_mb=GROWTH_MB)
        summary["rows"] = [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
        summary["goal_met"] = {row["mode"]: row["goal_met"] for row in rows}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
