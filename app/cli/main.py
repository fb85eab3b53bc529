"""The ``vidseek`` command's assembly: the top-level parser (each command group adds its own commands), the
dispatch to a command, and the error edge that turns every known failure into one line and an exit status."""

from __future__ import annotations

import argparse
import logging
import sys

from app import __version__
from app.cli.admin import add_db_command, add_model_command
from app.cli.arguments import CommandParser
from app.cli.index import add_index_commands
from app.cli.query import add_query_commands
from app.cli.serve import add_demo_command, add_serve_command
from app.cli.train import add_train_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidseek",
        description="Text-to-video retrieval over a folder of videos: index it once, then search it with words "
        "in a browser, over REST, or from this command line. Settings also come from VIDSEEK_* variables.",
    )
    parser.add_argument("--version", action="version", version=f"vidseek {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    # In the order --help lists them; each sets its command's function as ``run``.
    add_index_commands(commands)
    add_serve_command(commands)
    add_query_commands(commands)
    add_train_commands(commands)
    add_demo_command(commands)
    add_model_command(commands)
    add_db_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted: the previous index is still the published one", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: every known failure becomes one clear line
        if args.verbose:
            raise
        from app.errors import EXIT_ERROR, cli_message  # here: importing the models' errors loads torch

        print(f"vidseek: error: {cli_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
