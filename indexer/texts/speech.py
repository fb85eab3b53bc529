"""Speech as timed text: a :class:`Transcriber` turns a file's audio into cues (source ``speech``) that the text stage
stores beside its subtitle cues, attached to the segments they overlap. The interface is all the indexer knows.

:class:`FasterWhisper` (the ``asr`` extra: ``pip install 'vidseek[asr]'``) runs a faster-whisper (CTranslate2)
model from a local directory the user gives: nothing is downloaded, ever. Its times are on the indexer's clock
(seconds from the video stream's start), as the other cues' are."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Protocol

import av

from indexer.texts.cues import Cue, clean_text

log = logging.getLogger(__name__)

SPEECH = "speech"  # a text row's source for transcribed words
TRANSCRIBER_KEY = "transcriber"  # the manifest's extra[...]: what its builds transcribe with (FasterWhisper.record)
MODEL_FILES = ("model.bin", "config.json")  # what a CTranslate2 Whisper model directory holds at least
MAX_SPEECH_CUES = 100_000


class Transcriber(Protocol):
    """What turns a file's speech into cues."""

    name: str  # what makes the words (a model and its settings): in each video's text stamp, so a new one reads again

    def transcribe(self, path: Path) -> list[Cue]:
        """``path``'s speech as cues (source :data:`SPEECH`, seconds from its video stream's start); [] without
        audio. May raise: the text stage logs it and keeps the file's other words."""
        ...


def audio_offset(path: Path) -> float | None:
    """Where ``path``'s first audio stream starts on the indexer's clock (its start time minus the video stream's),
    or None when it has no audio."""
    with av.open(str(path)) as container:
        audio = next(iter(container.streams.audio), None)
        if audio is None:
            return None
        video = next(iter(container.streams.video), None)
        return _start(audio) - (_start(video) if video is not None else 0.0)


def _start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def speech_cues(segments, offset: float = 0.0) -> list[Cue]:
    """Cues from a recogniser's segments (anything with ``start``, ``end`` and ``text`` in seconds from the audio's
    start), moved by ``offset``; empty texts dropped."""
    cues = []
    for segment in segments:
        text = clean_text(segment.text)
        if text:
            start = max(0.0, float(segment.start) + offset)
            cues.append(Cue(round(start, 3), round(max(start, float(segment.end) + offset), 3), text, SPEECH))
        if len(cues) >= MAX_SPEECH_CUES:
            break
    return cues


def model_directory(path: Path) -> Path:
    """``path`` as a faster-whisper model directory, or a clear error: it must be one already on disk."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such model directory; give a faster-whisper (CTranslate2) model folder on disk "
            "(e.g. made by ct2-transformers-converter, or a copy of Systran/faster-whisper-small): nothing is downloaded"
        )
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a faster-whisper model directory: it has no {', '.join(missing)}")
    return folder


class FasterWhisper:
    """A local faster-whisper model: ``language`` None detects it per file; ``device`` cpu/cuda/auto,
    ``compute_type`` int8 by default (the fast one on a CPU), ``workers`` files transcribed at once."""

    def __init__(
        self,
        model_dir: Path,
        language: str | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 0,
        workers: int = 1,
    ):
        folder = model_directory(model_dir)
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise RuntimeError("speech transcripts need the asr extra: pip install 'vidseek[asr]'") from exc
        self.folder, self.language = folder.resolve(), language
        weights = folder / "model.bin"
        stat = weights.stat()
        digest = hashlib.sha256(f"{folder.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        self.name = f"faster-whisper:{folder.name}:{digest}:{language or 'auto'}"
        self._model = WhisperModel(
            str(folder),
            device=device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=max(1, workers),
            local_files_only=True,
        )

    def record(self) -> dict:
        """What a manifest records of it, for later builds of the index to transcribe alike."""
        return {"kind": "faster-whisper", "model_dir": str(self.folder), "language": self.language}

    def transcribe(self, path: Path) -> list[Cue]:
        offset = audio_offset(path)
        if offset is None:
            return []
        segments, _ = self._model.transcribe(str(path), language=self.language, vad_filter=True)
        return speech_cues(segments, offset)
