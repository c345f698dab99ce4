"""What machine the tools run on, for ``fastmlp info`` and ``fastmlp bench``."""
from __future__ import annotations

__all__ = ["cpu_model"]


def cpu_model() -> str | None:
    """The CPU's model name as /proc/cpuinfo gives it; None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
