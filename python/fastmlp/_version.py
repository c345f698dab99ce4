"""``__version__``: single-sourced from pyproject.toml's ``[project] version``.

A built wheel (or ``pip install .``) carries it in ``_build_version.py``, which the
build backend writes from pyproject.toml (``[[tool.scikit-build.generate]]``); a
source tree (``PYTHONPATH=python``) reads ../../pyproject.toml. Not
importlib.metadata: that names whichever fastmlp distribution is installed, also
when these files are another tree's sources.
"""
from __future__ import annotations

import re
from pathlib import Path


def _from_pyproject(path: Path) -> str | None:
    """The ``version`` of the ``[project]`` table of the TOML file ``path``, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    table = None
    for line in text.splitlines():
        header = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            table = header.group(1).strip()
            continue
        m = re.match(r"""\s*version\s*=\s*(["'])([^"']+)\1""", line)
        if table == "project" and m:
            return m.group(2)
    return None


try:
    from ._build_version import __version__
except ImportError:  # a source tree
    __version__ = _from_pyproject(Path(__file__).resolve().parents[2] / "pyproject.toml") or "0+unknown"
