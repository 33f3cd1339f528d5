"""``python -m qrdr``: the same as the ``qrdr`` command."""

import sys

from .cli import main

sys.exit(main())
