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


def _checked_defaults(command, options) -> set[str]:
    """The options of ``command`` whose help names a default of ``options``, each held equal to it; their names."""
    parser = _subparser(build_parser(), *command)
    defaults = {f.name: f.default for f in dataclasses.fields(options) if f.default is not dataclasses.MISSING}
    checked = set()
    for action in parser._actions:
        if defaults.get(action.dest) is None or action.default is not None or not action.help:
            continue  # an option with a parser default of its own, one the dataclass has not or computes (None)
        written = re.search(r"\(default: ([^)\s,;]+)", action.help)
        if written is None:
            continue  # its help describes the default in words
        value = re.sub(r"(?<=\d)s$", "", written.group(1))  # "10s": seconds; "shots" is a word
        assert _same(value, defaults[action.dest]), (action.dest, written.group(1), defaults[action.dest])
        checked.add(action.dest)
    return checked


@pytest.mark.parametrize(
    "command, options",
    [(("index", "build"), BuildOptions), (("finetune",), FinetuneOptions), (("synth",), SynthOptions), (("demo",), DemoOptions)],
)
def test_help_names_the_dataclass_defaults(command, options):
    checked = _checked_defaults(command, options)
    assert len(checked) >= 3, f"{command}: the help names too few dataclass defaults to check ({checked})"


def test_the_prompt_options_name_their_defaults():
    """--prompt-tokens and --prompt-depth: the reference's few-shot prompting shape, as FinetuneOptions has it."""
    assert {"prompt_tokens", "prompt_depth", "epochs", "accumulation"} <= _checked_defaults(("finetune",), FinetuneOptions)
