"""Prompts: how a label becomes the text the CLIP text encoder reads."""

from __future__ import annotations

# CLIP's and ViFi-CLIP's single-prompt template; every default in vidseek (the API, the CLI, evaluation,
# training sets, the classify page) is this one.
DEFAULT_TEMPLATE = "a photo of a {}."
