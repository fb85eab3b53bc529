"""The parser leaves the defaults of options an options dataclass has to that dataclass (one home); its help text
still names them (so --help stays fast). Here the two are held equal, so they cannot drift apart."""

import argparse
import dataclasses
import re

import pytest

from app.cli import build_parser
from app.demo import DemoOptions
from indexer.pipeline.options import BuildOptions
from indexer.synth import SynthOptions
from models.finetune import FinetuneOptions


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _same(written: str, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return written == str(value)
    try:
        return float(written) == float(value)
    except ValueError:
        return False


@pytest.mark.parametrize(
    "command, options",
    [(("index", "build"), BuildOptions), (("finetune",), FinetuneOptions), (("synth",), SynthOptions), (("demo",), DemoOptions)],
)
def test_help_names_the_dataclass_defaults(command, options):
    parser = _subparser(build_parser(), *command)
    defaults = {f.name: f.default for f in dataclasses.fields(options) if f.default is not dataclasses.MISSING}
    checked = 0
    for action in parser._actions:
        if defaults.get(action.dest) is None or action.default is not None or not action.help:
            continue  # an option with a parser default of its own, one the dataclass has not or computes (None)
        written = re.search(r"\(default: ([^)\s,;]+)", action.help)
        if written is None:
            continue  # its help describes the default in words
        assert _same(written.group(1).rstrip("s"), defaults[action.dest]), (action.dest, written.group(1), defaults[action.dest])
        checked += 1
    assert checked >= 3, f"{command}: the help names too few dataclass defaults to check ({checked})"
