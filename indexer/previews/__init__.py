"""Previews and seek thumbnails for the browser: whether a file plays as it is (``probe``), an H.264/AAC MP4 preview
of one that does not (``transcode``), and a sprite sheet with its WebVTT thumbnails track (``sprites``).

Torch-free, with no faiss and no SQL: it runs in decode worker processes. What cannot be made raises
:class:`~indexer.errors.PreviewError`; a file that is not a video, :class:`~indexer.errors.NotMediaError`."""

from indexer.previews.probe import (
    PREVIEW_MODES,
    MediaProbe,
    browser_playable,
    display_rotation,
    needs_preview,
    probe_media,
    still_picture,
)
from indexer.previews.sprites import SpriteSheet, make_sprites, sprite_times
from indexer.previews.transcode import PREVIEW_HEIGHT, make_preview, preview_size

__all__ = [
    "PREVIEW_HEIGHT",
    "PREVIEW_MODES",
    "MediaProbe",
    "SpriteSheet",
    "browser_playable",
    "display_rotation",
    "make_preview",
    "make_sprites",
    "needs_preview",
    "preview_size",
    "probe_media",
    "sprite_times",
    "still_picture",
]
