"""``__version__``: the installed distribution's version, else the one compiled into _core."""
from . import _core

try:
    from importlib.metadata import version as _dist_version

    __version__ = _dist_version("fastmlp")
except Exception:  # running from a source tree
    __version__ = _core.build_info.get("version") or "0+unknown"
