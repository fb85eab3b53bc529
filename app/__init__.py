"""The online side of vidseek and its command line: settings, the FastAPI app, the ``vidseek`` CLI."""

__version__ = "0.1.0"
