"""The ``vidseek`` command (``app.cli:main``): ``main.py`` assembles the parser and handles errors; one module per
command group (``index``, ``serve``, ``query``, ``train``, ``admin``) adds its commands and runs them."""

from app.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
