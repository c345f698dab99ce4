"""The command-line tools over fastmlp's public API: the ``fastmlp`` command, ``fastmlp bench``."""
