"""``python -m schedkit``: the ``schedkit`` command."""

import sys

from schedkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
