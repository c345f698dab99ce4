"""``python -m fastmlp ...``: the ``fastmlp`` command line (see :mod:`fastmlp.tools.cli`)."""
import sys

from fastmlp.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
