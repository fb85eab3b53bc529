"""``python -m app.cli``: the ``vidseek`` command."""

import sys

from app.cli.main import main

sys.exit(main())
