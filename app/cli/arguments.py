"""What the command groups share: the parser class of every command, the index and model options, and turning a
command's options into :class:`~app.settings.Settings` and into an options dataclass's arguments."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any

from app.settings import Settings

# The options that are also settings (VIDSEEK_*): given on the command line, they win over the environment.
SETTING_OPTIONS = ("index_dir", "db_url", "model", "pretrained", "device", "host", "port", "text_precision", "query_threads")


class CommandParser(argparse.ArgumentParser):
    """The parser of a command (``index build``, ``search``, ...): it reports the options it does not know itself,
    with its own usage and the nearest option it has. argparse leaves them to the top-level parser, whose usage
    names no option of the command the user was typing."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, unknown = super().parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}{self._nearest_option(unknown)}")
        return namespace, unknown

    def _nearest_option(self, unknown: list[str]) -> str:
        typed = next((arg.partition("=")[0] for arg in unknown if arg.startswith("--")), None)
        close = difflib.get_close_matches(typed, list(self._option_string_actions), n=1) if typed else []
        return f" (did you mean {close[0]}?)" if close else ""


def add_index_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", type=Path, help="index folder (default: $VIDSEEK_INDEX_DIR or ./vidseek-index)")
    parser.add_argument(
        "--db-url", help="SQLAlchemy URL of an external catalog, e.g. postgresql+psycopg://... (default: SQLite inside the index)"
    )


def add_model(parser: argparse.ArgumentParser, default_hint: str) -> None:
    parser.add_argument("--model", help=f"open_clip model name, e.g. ViT-B-32, ViT-B-16, vidseek-tiny ({default_hint})")
    parser.add_argument(
        "--pretrained",
        help=f"open_clip pretrained tag (openai, laion2b_s34b_b79k, ...), a local weights file, or 'none' ({default_hint})",
    )
    add_device(parser)


ENGINES = ("auto", "torch", "onnxruntime", "openvino")  # models.engines.ENGINES: importing it loads torch, --help must not


def add_engine(parser: argparse.ArgumentParser, tower: str, auto: str) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help=f"what runs the {tower}: torch, or its ONNX export run by onnxruntime or openvino (CPU; pip install "
        f"'vidseek[cpu]'; the graphs are exported once per weights and cached beside a weights file or under "
        f"~/.cache/vidseek/engines); {auto} (default: auto)",
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs (default: auto)")


def add_address(parser: argparse.ArgumentParser) -> None:
    """Where a server listens."""
    parser.add_argument("--host", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: 8000)")


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings of this run: the environment's, overridden by the options the command has and was given."""
    return Settings(**{key: value for key in SETTING_OPTIONS if (value := getattr(args, key, None)) is not None})


def given(**options: Any) -> dict[str, Any]:
    """``options`` less the ones left out (None), as keyword arguments of an options dataclass, which supplies the
    defaults. The parser declares those options with no default of its own: a default has one home, and ``--help``
    need not import the dataclass's module (``indexer.pipeline`` loads faiss and PyAV, ``models.finetune`` torch). Their help text
    still names the default, since printing it must stay that fast."""
    return {name: value for name, value in options.items() if value is not None}


def progress_on(args: argparse.Namespace) -> bool:
    # Off a terminal the progress helper prints a line every 30 s instead of a bar: long runs with stderr in a
    # log file still say how far they are.
    return not args.no_progress
