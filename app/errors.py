"""The app's own exceptions and the one table that turns every known exception into an HTTP status and a CLI exit
code: routes raise, the app's handlers answer, the CLI prints one line. Nothing below ``app/`` knows either."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.errors import DecodeError, IndexerError, NotAnImageError  # NotAnImageError: also importable from here
from indexer.index_dir.manifest import no_index
from models.errors import ModelError, WeightsUnavailableError


class NoIndexError(Exception):
    """The server has no index to search yet."""

    @classmethod
    def in_dir(cls, index_dir) -> "NoIndexError":
        """The one "no index" message: where, and the command that builds one there."""
        return cls(str(no_index(index_dir)))


class NotFoundError(Exception):
    """A segment or video id that the index does not hold."""


EXIT_ERROR = 2  # what the CLI exits with for a known error (argparse's own status for a usage error)


@dataclass(frozen=True)
class ErrorRule:
    """How one exception class reaches the user: ``http_status`` (None where a route turns it into its own answer,
    or no route lets it out) with ``detail_prefix`` before the message, and the CLI's exit code."""

    exception: type[BaseException]
    http_status: int | None = None
    detail_prefix: str = ""
    exit_code: int = EXIT_ERROR


# First match wins, so a subclass comes before its base.
RULES: tuple[ErrorRule, ...] = (
    ErrorRule(NoIndexError, 503),
    ErrorRule(NotFoundError, 404),
    ErrorRule(NotAnImageError, 422),  # a picture to search by that cannot be one (before IndexerError, its base)
    ErrorRule(DecodeError, 422, "could not decode the video: "),
    ErrorRule(ModelError),
    ErrorRule(IndexerError),
    ErrorRule(ValueError),
    ErrorRule(FileNotFoundError),
    ErrorRule(NotADirectoryError),
)


def rule_for(exc: BaseException) -> ErrorRule | None:
    """The rule for ``exc``; None for an exception nobody expected (a bug: the CLI shows its type, HTTP a 500)."""
    return next((rule for rule in RULES if isinstance(exc, rule.exception)), None)


def cli_message(exc: BaseException) -> str:
    """The one line the CLI prints after "vidseek: error: "."""
    if isinstance(exc, WeightsUnavailableError):
        return f"{exc} Or see the whole product work offline first: 'vidseek demo' (or 'make demo')."
    if rule_for(exc) is not None:
        return str(exc)
    return f"{type(exc).__name__}: {exc} (run with -v for the traceback)"


def http_answered() -> tuple[ErrorRule, ...]:
    """The rules the app installs exception handlers for."""
    return tuple(rule for rule in RULES if rule.http_status is not None)
