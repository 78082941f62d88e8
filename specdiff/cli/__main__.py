"""``python -m specdiff.cli``: the ``specdiff`` command (torchrun starts it this way)."""

import sys

from specdiff.cli.parser import main

sys.exit(main())
