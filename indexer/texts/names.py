"""The words a file's name and folders carry ("Birthday_2019/GOPR0042-drone.MP4" -> "Birthday 2019 GOPR0042 GOPR 0042 drone"),
and its container's title and comment."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import av

MAX_METADATA_CHARS = 2000
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def name_words(path: Path, library: Path | None = None) -> str:
    """The words of ``path``'s folders below ``library`` and of its name without the extension: split at
    punctuation, underscores, camelCase and letter-digit boundaries."""
    try:
        parts = path.relative_to(library).parts if library is not None else (path.name,)
    except ValueError:
        parts = (path.name,)
    parts = [*parts[:-1], Path(parts[-1]).stem]
    words: dict[str, None] = {}  # ordered, each word once
    for part in parts:
        for chunk in filter(None, _SEPARATORS.split(part)):
            words[chunk] = None  # "GOPR0042" as it is, for a search by the whole name ...
            pieces = [w for w in _CAMEL.split(chunk) if w]
            if len(pieces) > 1:
                words.update(dict.fromkeys(pieces))  # ... and "GOPR", "0042", for one by a part
    return " ".join(words)


def container_facts(path: Path) -> tuple[str, datetime | None]:
    """The container's title and comment (or description) as one line, and its creation time (UTC; None where it
    has none, or an unreadable one); ("", None) for an unreadable file."""
    try:
        with av.open(str(path)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
    except (av.FFmpegError, OSError, ValueError):
        return "", None
    values = [tags.get(key, "").strip() for key in ("title", "comment", "description")]
    return " ".join(dict.fromkeys(v for v in values if v))[:MAX_METADATA_CHARS], _creation_time(tags.get("creation_time"))


def container_text(path: Path) -> str:
    return container_facts(path)[0]


def _creation_time(value: str | None) -> datetime | None:
    """ISO 8601 as muxers write it ("2019-06-01T12:00:00.000000Z"); a time before 1971 is a camera's unset clock."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC) if when.year > 1970 else None
