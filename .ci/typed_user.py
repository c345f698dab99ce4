"""A small typed user script: CI runs ``mypy --strict`` over it against the installed
wheel, which checks that the wheel ships its typing (``py.typed``, ``_core.pyi``) and
that the annotated public surface it uses (top-level functions, ``kernels``,
``reference``, ``Tensor``, ``nn.Linear``'s constructor, ``save``/``load``) type-checks for a
user. It also runs (CI does that too), so what it asserts is true at run time.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

import fastmlp
from fastmlp import kernels, nn, reference

Array = npt.NDArray[np.float32]


def dense_relu(x: Array, w: Array, b: Array) -> Array:
    """One layer through the public kernel API."""
    out: npt.NDArray[np.float32] = kernels.sgemm(x, w, bias=b, activation="relu")
    return out


def main() -> None:
    version: str = fastmlp.__version__
    isa: str = fastmlp.cpu_capability()
    paths: list[str] = fastmlp.available_cpu_capabilities()
    threads: int = fastmlp.get_num_threads()
    fastmlp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    b = np.zeros(2, np.float32)
    y = dense_relu(x, w, b)
    want: npt.NDArray[np.float64] = reference.sgemm(x, w, bias=b, activation="relu")
    assert np.allclose(y, want, rtol=1e-5, atol=1e-6)
    t: fastmlp.Tensor = fastmlp.from_numpy(x)
    total: float = fastmlp.tensor(t.numpy().sum()).item()
    layer = nn.Linear(3, 2, bias=True)
    n_params = sum(p.numel() for p in layer.parameters())
    assert n_params == 8 and isinstance(total, float) and isa in paths
    print(f"typed user script: fastmlp {version}, {isa}, {threads} threads: ok")


if __name__ == "__main__":
    main()
