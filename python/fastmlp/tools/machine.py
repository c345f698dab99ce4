"""What machine the tools run on, for ``fastmlp info`` and ``fastmlp bench``."""
from __future__ import annotations

__all__ = ["cpu_model", "cpu_id", "format_caches"]


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


# blk: the CPU's identity for bench/results/<cpu-id>/ ------------------------
_VENDORS = {"AuthenticAMD": "amd", "GenuineIntel": "intel", "HygonGenuine": "hygon"}


def cpu_id() -> str:
    """This CPU's directory name under bench/results/: vendor, family, model and the
    best ISA path, e.g. ``amd-f25-m17-avx512`` (what a VM's model string may hide)."""
    from fastmlp import _core

    g = _core.gemm_config()
    vendor = _VENDORS.get(g["vendor"], (g["vendor"] or "unknown").lower())
    return f"{vendor}-f{g['family']}-m{g['model']}-{_core.best_cpu_capability()}"


def _size(b: int) -> str:
    return f"{b // (1 << 20)} MiB" if b % (1 << 20) == 0 else f"{b // 1024} KiB"


def format_caches(caches: list) -> str:
    """``L1d 32 KiB 8-way, L2 1 MiB 8-way, L3 32 MiB 16-way (2 CPUs)`` from gemm_config()'s list."""
    parts = []
    for c in caches:
        name = f"L{c['level']}" + ("d" if c["level"] == 1 else "")
        ways = f"{c['ways']}-way" if c["ways"] else "fully associative"
        share = f" ({c['sharing']} CPUs)" if c.get("sharing", 1) > 1 else ""
        parts.append(f"{name} {_size(c['size'])} {ways}{share}")
    return ", ".join(parts) or "unknown"
