"""What the current index holds, as the pages and the media routes see it: the library listing, one indexed video
with its segments, its file (opened only once checked), its preview and sprite sheet, a photo as a browser shows
it, and a segment's poster."""

from __future__ import annotations

import io
import logging
import os
import stat
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import NotAnImageError, NotFoundError
from app.services.current_index import CurrentIndex
from indexer import PHOTO_KIND, VIDEO_INDEXED, IndexReader, Manifest, SegmentRecord, VideoFile, VideoFileError, VideoRecord
from indexer.clips import MAX_IMAGE_PIXELS  # importing it registers Pillow's HEIF opener where pillow-heif is installed

log = logging.getLogger(__name__)

PHOTO_LONG_SIDE = 2560  # a photo a browser cannot show is sent as a JPEG at most this long
PHOTO_QUALITY = 88
CONVERTED_CACHE_BYTES = 64 * 1024 * 1024  # converted photos kept in memory, most recently asked for first
CONVERSIONS = threading.BoundedSemaphore(2)  # a 64-megapixel photo takes ~200 MB to decode: two at a time
# Pictures every browser shows, by their first bytes (a file's name may say otherwise).
BROWSER_PICTURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
                    (b"GIF89a", "image/gif"))  # fmt: skip


@dataclass(frozen=True)
class Library:
    manifest: Manifest
    generation: str
    indexed: list[VideoRecord]  # their paths shown relative to the library (shown_path)
    failed: list[VideoRecord]
    previews_failed: list[VideoRecord]  # indexed videos whose preview or sprite sheet could not be made
    preview_bytes: int  # what the previews and sprite sheets take on disk
    original_bytes: int  # what the indexed files take


@dataclass
class ServedFile:
    """A file the media routes send from the index dir (or made in memory): open, with its ``stat`` and the name a
    download gets (None: none). :class:`VideoFile`, a checked file of the library, has the same shape."""

    path: Path
    file: BinaryIO
    stat: os.stat_result
    name: str | None = None

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "ServedFile":
        return self

    def __exit__(self, *_) -> None:
        self.close()


class LibraryBrowser:
    """Browsing the current index by id: never by a path from the client."""

    def __init__(self, index: CurrentIndex):
        self.index = index
        self._converted: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._converted_lock = threading.Lock()

    def listing(self) -> Library:
        """Every catalogued file of the current index with its segment count, the failures with their errors, and
        what the previews take on disk."""
        reader = self.index.require()
        entries = [shown_path(video, reader.manifest.library) for video in reader.video_records()]
        indexed = [e for e in entries if e.status == VIDEO_INDEXED]
        return Library(
            manifest=reader.manifest,
            generation=reader.generation.name,
            indexed=indexed,
            failed=[e for e in entries if e.status != VIDEO_INDEXED],
            previews_failed=[e for e in indexed if e.preview_error],
            preview_bytes=sum((e.preview_bytes or 0) + (e.sprite_bytes or 0) for e in indexed),
            original_bytes=sum(e.size for e in indexed),
        )

    def indexed_video(self, video_id: int) -> tuple[VideoRecord, list[SegmentRecord]]:
        """An indexed video and its segments in time order (raises NotFoundError)."""
        reader = self.index.require()
        return _indexed(reader, video_id), reader.video_segments(video_id)

    def video_file(self, video_id: int) -> VideoFile:
        """An indexed video's file, opened once checked to be inside the library and still the file that was
        indexed (raises NotFoundError): what is read or sent is the descriptor that was checked."""
        reader = self.index.require()
        return _checked_file(reader, _indexed(reader, video_id))

    def preview(self, video_id: int) -> ServedFile:
        """A video's browser-playable preview (H.264 in MP4), open (raises NotFoundError with the reason)."""
        reader = self.index.require()
        video = _indexed(reader, video_id)
        if video.kind == PHOTO_KIND:
            raise NotFoundError(f"video {video_id} is a photo: it has no preview (see /photos/{video_id})")
        if video.preview_bytes is None:
            why = f" ({video.preview_error})" if video.preview_error else ""
            raise NotFoundError(f"video {video_id} has no preview{why}: it plays as it is, at /videos/{video_id}")
        return _index_file(reader.preview_path(video_id), f"video {video_id}'s preview", f"{Path(video.title).stem}.mp4")

    def sprites(self, video_id: int, part: str) -> ServedFile:
        """A video's sprite sheet (``part`` "jpg") or its WebVTT thumbnails track ("vtt"), open (raises
        NotFoundError with the reason)."""
        reader = self.index.require()
        video = _indexed(reader, video_id)
        if video.sprite_bytes is None:
            why = "a photo" if video.kind == PHOTO_KIND else video.preview_error or "built with --previews off?"
            raise NotFoundError(f"video {video_id} has no sprite sheet ({why})")
        sheet, track = reader.sprite_paths(video_id)
        if part == "jpg":
            return _index_file(sheet, f"video {video_id}'s sprite sheet")
        return _index_file(track, f"video {video_id}'s thumbnails track")

    def photo(self, video_id: int) -> tuple[VideoFile | ServedFile, str]:
        """A photo as a browser shows it, with its media type: the checked file as it is when it is a JPEG, PNG,
        WebP or GIF, else a JPEG made from it (long side at most ``PHOTO_LONG_SIDE``). Raises NotFoundError (not
        a photo, or its file is not the one indexed) or NotAnImageError (it cannot be read: a 422)."""
        reader = self.index.require()
        video = _indexed(reader, video_id)
        if video.kind != PHOTO_KIND:
            raise NotFoundError(f"video {video_id} is a video, not a photo: it plays at /videos/{video_id}")
        checked = _checked_file(reader, video)
        try:
            media_type = browser_picture_type(os.pread(checked.file.fileno(), 16, 0))
            if media_type is not None:
                return checked, media_type  # sent as it is; the response closes it
            data = self._converted_photo(video, checked)
        except BaseException:
            checked.close()
            raise
        checked.close()
        made = os.stat_result((stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, len(data), *map(int, checked.stat[7:10])))
        return ServedFile(checked.path, io.BytesIO(data), made, f"{Path(video.title).stem}.jpg"), "image/jpeg"

    def _converted_photo(self, video: VideoRecord, checked: VideoFile) -> bytes:
        key = (video.video_id, video.fingerprint)
        with self._converted_lock:
            if key in self._converted:
                self._converted.move_to_end(key)
                return self._converted[key]
        with CONVERSIONS:
            try:
                data = photo_as_jpeg(checked.file, PHOTO_LONG_SIDE)
            except NotAnImageError as exc:
                log.warning("cannot show photo %d (%s): %s", video.video_id, video.path, exc)
                raise NotAnImageError(f"photo {video.video_id} cannot be shown: {exc}") from None
        with self._converted_lock:
            self._converted[key] = data
            while sum(map(len, self._converted.values())) > CONVERTED_CACHE_BYTES and len(self._converted) > 1:
                self._converted.popitem(last=False)
        return data

    def segment(self, segment_id: int) -> SegmentRecord | None:
        """An indexed segment; None when the index has none of that id, or there is no index."""
        reader = self.index.reader
        return reader.segments([segment_id]).get(segment_id) if reader is not None else None

    def poster(self, segment_id: int) -> Path:
        """A segment's poster, a JPEG (raises NotFoundError)."""
        path = self.index.require().thumbnail_path(segment_id)
        if not path.is_file():
            raise NotFoundError(f"no poster for segment {segment_id}")
        return path


def browser_picture_type(head: bytes) -> str | None:
    """The media type of a picture every browser shows (JPEG, PNG, GIF, WebP), from its first 16 bytes; None for
    any other."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((media_type for magic, media_type in BROWSER_PICTURES if head.startswith(magic)), None)


def photo_as_jpeg(file: BinaryIO, long_side: int) -> bytes:
    """A picture Pillow reads (BMP, TIFF, AVIF, HEIC where pillow-heif is installed, ...) as a JPEG, turned upright
    (EXIF), at most ``long_side`` pixels long, transparency on white. Its header is checked against
    ``MAX_IMAGE_PIXELS`` before anything is decoded. Raises NotAnImageError."""
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            if not 0 < image.width * image.height <= MAX_IMAGE_PIXELS:
                raise NotAnImageError(f"it has {image.width * image.height:,} pixels: at most {MAX_IMAGE_PIXELS:,} are shown")
            image.draft("RGB", (long_side, long_side))  # JPEG: decode at a reduced size when it can
            image = ImageOps.exif_transpose(image)
            image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
            image = _on_white(image)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=PHOTO_QUALITY)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise NotAnImageError(f"it has more than {MAX_IMAGE_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        raise NotAnImageError("this server cannot read its format: download the original") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a known format, but damaged or truncated
        raise NotAnImageError(f"it could not be decoded ({exc})") from None
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """RGB, its transparent parts (a JPEG has no alpha) on white rather than on whatever colour they hide."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _indexed(reader: IndexReader, video_id: int) -> VideoRecord:
    video = reader.video_record(video_id)
    if video is None or not video.indexed:
        raise NotFoundError(f"no indexed video {video_id}")
    return video


def _checked_file(reader: IndexReader, video: VideoRecord) -> VideoFile:
    try:
        return reader.open_video_file(video)
    except VideoFileError as exc:
        log.warning("not serving video %d (%s): %s", video.video_id, video.path, exc.reason)
        raise NotFoundError(str(exc)) from None


def _index_file(path: Path, what: str, name: str | None = None) -> ServedFile:
    """A file of the index dir (a preview, a sprite sheet), open; NotFoundError when the build left none there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # O_NONBLOCK: a FIFO put there cannot block
    except FileNotFoundError:
        raise NotFoundError(f"{what} is missing from the index dir: re-run 'vidseek index build'") from None
    except OSError as exc:
        raise NotFoundError(f"{what} cannot be opened ({exc.strerror or exc})") from None
    file = os.fdopen(fd, "rb")
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        file.close()
        raise NotFoundError(f"{what} is not a regular file: not served")
    os.set_blocking(fd, True)
    return ServedFile(path, file, opened, name)


def shown_path(video: VideoRecord, library_root: str) -> VideoRecord:
    """``video`` with its path as the library page shows it: relative to the library, where it is inside it."""
    return replace(video, path=library_relative(video.path, library_root))


def library_relative(path: str, library: str) -> str:
    """``path`` relative to ``library`` where it is inside it, else as it is."""
    try:
        return str(Path(path).relative_to(library)) if library else path
    except ValueError:
        return path
