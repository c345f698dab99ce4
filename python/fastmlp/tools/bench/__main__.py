"""``python -m fastmlp.tools.bench ...``: the same as ``fastmlp bench ...``."""
import sys

from fastmlp.tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
