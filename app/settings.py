"""All configuration in one pydantic-settings class, read once from ``VIDSEEK_*`` and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.cores import usable_cores
from models.registry import DEFAULT_MODEL, DEFAULT_PRETRAINED  # noqa: F401 (re-exported: the CLI's defaults)

if TYPE_CHECKING:
    from indexer import Manifest

TextPrecision = Literal["auto", "float32", "bfloat16", "int8"]  # models.quantize.TEXT_PRECISIONS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDSEEK_", protected_namespaces=())

    index_dir: Path = Field(Path("vidseek-index"), description="the index folder written by 'vidseek index build'")
    db_url: str | None = Field(None, description="SQLAlchemy URL of an external catalog (default: SQLite in the index)")
    model: str | None = Field(None, description="open_clip model name; default: the index's, else ViT-B-32")
    pretrained: str | None = Field(None, description="pretrained tag or weights file; default: the index's, else openai")
    device: str = Field("auto", description="auto, cpu or cuda")
    text_precision: TextPrecision = Field(
        "auto",
        description="precision of the text tower that embeds search queries: auto (bfloat16 on CPUs with AVX512-BF16 "
        "or AMX, else the model as loaded), float32, bfloat16 or int8 (CPU only; cosine to float32 >= 0.999)",
    )
    query_threads: int | None = Field(
        None, ge=1, description="threads torch and FAISS use for query batches; default: one fewer than the CPU cores, at least 1"
    )
    max_upload_mb: float = Field(200.0, gt=0, description="largest accepted upload for /classify")
    host: str = "127.0.0.1"
    port: int = 8000
    reload_interval_s: float = Field(1.0, ge=0, description="how often the server looks for a newly published index")
    api_key: str | None = Field(
        None, description="when set, uploads (/classify, /search/image) need it: 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"
    )
    public_search: bool = Field(
        True, description="false: every path but /healthz needs the API key (pages, media, the API docs, static files)"
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def query_threads_or_default(self) -> int:
        # Leave a core to the event loop and the request threads: threads that wait for each other at
        # every barrier on oversubscribed cores made batches 2-15x slower on 2 cores (bench_query.py).
        return self.query_threads or max(1, usable_cores() - 1)

    @property
    def scan_threads_or_default(self) -> int:
        # An exact scan waits on memory, not on the other threads: every core (1.15x the q/s on 2 cores).
        return self.query_threads or usable_cores()


def model_to_load(settings: Settings, manifest: Manifest | None) -> tuple[str, str]:
    """(model, pretrained) for an index dir whose manifest is ``manifest`` (None: no index yet): what the settings
    ask for (--model/--pretrained, VIDSEEK_MODEL/PRETRAINED), else the index's own, else ViT-B-32 / openai. The
    index's weights are the default only for the index's own model."""
    model = settings.model or (manifest.model if manifest else DEFAULT_MODEL)
    own_model = manifest is not None and model == manifest.model
    return model, settings.pretrained or (manifest.pretrained if own_model else DEFAULT_PRETRAINED)


def cache_root() -> Path:
    """Where vidseek keeps reusable files (decoded-frame cache, the demo): ``$XDG_CACHE_HOME/vidseek``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidseek"
