"""All configuration in one pydantic-settings class, read once from ``VIDSEEK_*`` and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDSEEK_", protected_namespaces=())

    index_dir: Path = Field(Path("vidseek-index"), description="the index folder written by 'vidseek index build'")
    db_url: str | None = Field(None, description="SQLAlchemy URL of an external catalog (default: SQLite in the index)")
    model: str | None = Field(None, description="open_clip model name; default: the index's, else ViT-B-32")
    pretrained: str | None = Field(None, description="pretrained tag or weights file; default: the index's, else openai")
    device: str = Field("auto", description="auto, cpu or cuda")
    max_upload_mb: float = Field(200.0, gt=0, description="largest accepted upload for /classify")
    host: str = "127.0.0.1"
    port: int = 8000
    reload_interval_s: float = Field(1.0, ge=0, description="how often the server looks for a newly published index")
    api_key: str | None = Field(
        None, description="when set, uploads (/classify, /search/image) need it: 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"
    )
    public_search: bool = Field(True, description="false: searching, pages and media need the API key too")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
