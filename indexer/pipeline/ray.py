"""The Ray runner: the build pipeline with decoding in Ray tasks on CPUs and
embedding in Ray actors (one GPU each where the cluster has GPUs), writing the same index and catalog.

Ray Data streams over the new and changed files, one block per file: a decode task (:mod:`indexer.pipeline.ray_tasks`)
probes, plans and decodes a file chunk by chunk (the local runner's code: :mod:`indexer.clips`, and its planner,
:mod:`indexer.pipeline.plan`, which also picks each file's backend: photos are decoded as pictures), then an actor
pool embeds batches of segments with an encoder each actor loads once from an :class:`EncoderRecipe` (model name,
weights, device: never the model itself). The driver receives vectors and
posters only and commits them in library order through :func:`~indexer.pipeline.update.update_index`, so scanning,
incremental updates, segment ids, failures, checkpoints and publishing are those of the local runner's.

Every node must see the library (and a weights file) at the driver's paths and have vidseek installed.
A decode task that kills its process is retried once, then its file is recorded as crashed (as in the pool);
``file_timeout`` is not enforced here (Ray has no task timeout). Ray is imported inside functions only:
vidseek works without it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from indexer.decoders import VideoInfo
from indexer.errors import RayBuildError
from indexer.pipeline import plan
from indexer.pipeline.commit import Committer
from indexer.pipeline.options import BuildOptions, BuildReport, decode_resample, poster_short_side, segment_rule
from indexer.pipeline.plan import CRASHED, MAX_CRASHES, VideoJob, decoder_for
from indexer.pipeline.ray_tasks import decode_videos
from indexer.pipeline.update import update_index
from indexer.segment import Segment
from models.encoder import DEFAULT_BATCH_SIZE

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'vidseek[ray]'"
GPU_BLOCK = 128  # segments per block handed to a GPU actor (it embeds them in batches that fit its memory)


@dataclass(frozen=True)
class EncoderRecipe:
    """What an actor needs to load the driver's encoder; the fingerprint proves it loaded the same weights."""

    name: str
    pretrained: str  # an open_clip tag, 'none', or a weights file at the same path on every node
    fingerprint: str
    device: str = "auto"
    base: str = "auto"  # see models.factory.load_encoder
    precision: str = "auto"  # of the image tower, chosen on each node for its own hardware (models.quantize)

    @classmethod
    def of(cls, encoder, device: str = "auto", base: str = "auto", precision: str = "auto") -> "EncoderRecipe":
        spec = encoder.spec
        return cls(spec.name, spec.pretrained, spec.fingerprint, device, base, precision)

    def load(self):
        from models import load_encoder
        from models.quantize import image_encoder_at

        encoder = load_encoder(self.name, self.pretrained, self.device, base=self.base)
        if encoder.spec.fingerprint != self.fingerprint:
            raise RayBuildError(
                f"its weights ({encoder.spec.fingerprint}) differ from the driver's ({self.fingerprint}): "
                f"every node needs the same {self.pretrained}"
            )
        return image_encoder_at(encoder, self.precision)


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local Ray instance; 'auto' or 'ray://host:10001': connect to a cluster
    device: str = "auto"  # auto: GPU actors when the cluster has GPUs; cuda: GPU actors; cpu: CPU actors
    base: str = "auto"  # the base weights a ViFi-CLIP checkpoint lacks (models.factory.load_encoder)
    embed_actors: int | None = None  # default: one per GPU; on CPUs, 1 up to half the cluster's CPUs / embed_cpus
    embed_cpus: float = 1.0  # CPUs held by each CPU embedding actor (Ray gives torch as many threads)
    # The actors' image tower: auto (each node picks for its hardware), float32 or bfloat16
    # (models.quantize.image_encoder_at); None: the driver encoder's.
    precision: str | None = None


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - ray without its data extra cannot run the pipeline
    except ImportError as exc:
        raise RayBuildError(f"indexing on Ray needs Ray Data ({exc}): {INSTALL_HINT}") from exc
    return ray


def build_index_on_ray(encoder, options: BuildOptions, ray_options: RayOptions | None = None) -> BuildReport:
    """:func:`~indexer.pipeline.local.build_index` with decode and embed on Ray; the same index, ids and catalog.

    ``encoder`` is the driver's copy (for the manifest and frame size); actors load their own from its recipe.
    Uses the Ray instance this process is connected to, if any, else connects (or starts one) and shuts it
    down at the end. An index with nothing new to do never starts Ray.
    """
    ray_options = ray_options or RayOptions()
    ray = import_ray()

    def index_videos(committer: Committer) -> None:
        with _connected(ray, ray_options.address):
            _RayRun(ray, encoder, options, ray_options).run(committer)

    return update_index(encoder, options, index_videos)


@contextlib.contextmanager
def _connected(ray, address: str | None):
    if ray.is_initialized():
        yield
        return
    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError ... for one cause
        raise RayBuildError(f"cannot start or reach {where}: {exc}") from exc
    try:
        yield
    finally:
        ray.shutdown()


class _RayRun:
    """One build's Ray Data pipeline; the driver side turns its output rows back into finished jobs."""

    def __init__(self, ray, encoder, options: BuildOptions, ray_options: RayOptions):
        self.ray = ray
        self.encoder = encoder
        self.options = options
        self.ray_options = ray_options
        self.jobs: list[VideoJob | None] = []
        self.committer: Committer | None = None

    def run(self, committer: Committer) -> None:
        self.jobs = committer.jobs
        self.committer = committer
        try:
            for batch in self._dataset().iter_batches(batch_size=None, batch_format="numpy"):
                self._take(batch)
                committer.commit_ready()
        except self.ray.exceptions.RayError as exc:
            raise RayBuildError(f"the Ray pipeline failed: {exc}") from exc
        for job in self.jobs:
            if job is not None and not job.done:  # its decode task died every time it ran
                plan.fail(job, CRASHED)

    def _embedding_actors(self):
        """Where the embedding actors run: (GPUs or not, their ActorPoolStrategy)."""
        ray, ray_options = self.ray, self.ray_options
        device = ray_options.device
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        use_gpus = device == "cuda" or (device == "auto" and gpus > 0)
        if device == "cuda" and gpus == 0:
            log.warning("device cuda: the Ray cluster has no GPU now; the embedding actors wait for one")
        if ray_options.embed_actors:
            return use_gpus, ray.data.ActorPoolStrategy(size=ray_options.embed_actors)
        if use_gpus:
            return use_gpus, ray.data.ActorPoolStrategy(size=max(gpus, 1))
        # CPU actors grow while segments wait, leaving at least half the CPUs to decoding
        most = max(1, int(cpus // 2 / ray_options.embed_cpus))
        return use_gpus, ray.data.ActorPoolStrategy(min_size=1, max_size=most)

    def _dataset(self):
        """The Ray Data pipeline over the jobs' files: one block per file, decoded by tasks, embedded by actors."""
        ray, options = self.ray, self.options
        use_gpus, pool = self._embedding_actors()
        from models.quantize import image_precision

        precision = self.ray_options.precision or image_precision(self.encoder)
        recipe = EncoderRecipe.of(self.encoder, "cuda" if use_gpus else "cpu", self.ray_options.base, precision)
        files = [
            {
                "seq": job.seq,
                "path": str(job.file.path),
                "decoder": decoder_for(job.file, options.decoder),
                "named_as_media": job.file.named_as_media,
            }
            for job in self.jobs
        ]
        ds = ray.data.from_items(files, override_num_blocks=len(files))  # one file per block: a crash loses one file
        context = ds.context  # this dataset's own copy of the DataContext
        context.max_errored_blocks = -1  # a decode task that died MAX_CRASHES times drops its file (recorded in run)
        context.enable_progress_bars = False  # the build has its own
        context.print_on_execution_start = False
        decode_args = dict(
            frames=options.frames,
            rule=segment_rule(options),
            chunk_segments=options.chunk_segments,
            short_side=poster_short_side(self.encoder),
            resample=decode_resample(self.encoder),
        )
        with warnings.catch_warnings():
            # max_retries has no named parameter yet (Ray 2.60 deprecates passing it this way, for removal in 2.64);
            # without it Ray Data retries a task whose process died forever: one crashing file would stall the build.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            ds = ds.map_batches(
                decode_videos,
                batch_size=1,
                fn_kwargs=decode_args,
                num_cpus=1,
                max_retries=MAX_CRASHES - 1,
                compute=ray.data.TaskPoolStrategy(size=options.workers) if options.workers else None,
            )
        return ds.map_batches(
            EmbedSegments,
            fn_constructor_kwargs={"recipe": recipe, "frames": options.frames},
            # A GPU actor embeds a block in batches that fit its memory (EmbedSegments), so blocks can be large.
            batch_size=options.batch_size or (GPU_BLOCK if use_gpus else DEFAULT_BATCH_SIZE),
            compute=pool,
            **({"num_gpus": 1} if use_gpus else {"num_cpus": self.ray_options.embed_cpus}),
        )

    def _take(self, batch: dict[str, np.ndarray]) -> None:
        """Fill jobs from embedded rows. Rows may come in any order; a re-planned video's rows of an older
        epoch are dropped, and an error row ends its video (a skipped row: its file is no video)."""
        for row in range(len(batch["seq"])):
            if batch["embed_error"][row]:
                raise RayBuildError(str(batch["embed_error"][row]))
            job = self.jobs[int(batch["seq"][row])]
            if job is None or not job.current(job.epoch):  # already committed, failed or skipped
                continue
            if batch["error"][row]:
                plan.fail(job, str(batch["error"][row]))
                continue
            if batch["skipped"][row]:
                plan.skip(job, str(batch["skipped"][row]))
                continue
            epoch, count = int(batch["epoch"][row]), int(batch["count"][row])
            if epoch < job.epoch:
                continue
            if epoch > job.epoch or job.info is None:
                job.epoch = epoch
                job.info = VideoInfo(
                    float(batch["duration"][row]),
                    float(batch["fps"][row]),
                    int(batch["width"][row]),
                    int(batch["height"][row]),
                    str(batch["codec"][row]),
                    bool(batch["still"][row]),
                )
                job.segments = [None] * count
                job.vectors.clear()
                job.posters.clear()
                self.committer.planned(job)
            index = int(batch["index"][row])
            job.segments[index] = Segment(float(batch["start"][row]), float(batch["end"][row]))
            if index not in job.vectors:  # a retried decode task sends its rows again
                self.committer.embedded(job)
            job.vectors[index] = np.array(batch["vector"][row], dtype=np.float32)
            job.posters[index] = bytes(batch["poster"][row])
            plan.take_note(job, str(batch["note"][row]))


class EmbedSegments:
    """Ray Data embed stage: an actor that loads the encoder once from its recipe and embeds batches of segments.

    A failure (loading the model, embedding) is returned in ``embed_error``, which stops the build with that
    message, rather than raised: the build lets Ray drop the blocks of decode tasks that died, so an error
    raised here would silently drop segments, and one raised while loading reaches the driver buried in Ray's.
    """

    def __init__(self, recipe: EncoderRecipe, frames: int):
        self.frames = frames
        self.max_batch: int | None = None  # clips per encode_videos call, sized to the device's memory at the first
        self.encoder, self.load_error = None, ""
        try:
            self.encoder = recipe.load()
        except Exception as exc:  # noqa: BLE001 - reported with the first batch, see the class docstring
            self.load_error = f"cannot load the model {recipe.name}/{recipe.pretrained} on a Ray node: {exc}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        clips, heights, widths = batch.pop("clip"), batch.pop("clip_height"), batch.pop("clip_width")
        vectors = np.zeros((len(clips), self.encoder.dim if self.encoder else 1), dtype=np.float32)
        todo = [row for row, clip in enumerate(clips) if len(clip)]
        error = self.load_error
        try:
            if todo and not error:
                frames = [
                    np.frombuffer(clips[row], dtype=np.uint8).reshape(self.frames, heights[row], widths[row], 3).copy()
                    for row in todo
                ]
                if self.max_batch is None:
                    self.max_batch = self.encoder.batch_size_for_memory(self.frames, int(min(heights[todo[0]], widths[todo[0]])))
                for first in range(0, len(frames), self.max_batch):
                    vectors[todo[first : first + self.max_batch]] = self.encoder.encode_videos(
                        frames[first : first + self.max_batch]
                    )
        except Exception as exc:  # noqa: BLE001 - reported to the driver, see the class docstring
            error = f"embedding failed on a Ray node: {type(exc).__name__}: {exc}"
        batch["vector"] = vectors
        batch["embed_error"] = np.array([error] * len(clips), dtype=object)
        return batch
