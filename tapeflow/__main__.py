"""``python -m tapeflow`` and the ``tapeflow`` script: see :mod:`tapeflow.cli`."""

from __future__ import annotations

import sys

from tapeflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
