"""``python -m qrdr``: the same as the ``qrdr`` command."""

import sys

from .cli import main

if __name__ == "__main__":  # importing the module (a test that imports every module) runs nothing
    sys.exit(main())
