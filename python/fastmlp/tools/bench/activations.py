"""The layers suite's activation cases and the memory bandwidth they are measured against.

Every activation in :data:`fastmlp.functional.ACTIVATIONS` (new entries appear here
when they are merged) runs forward then backward as the training step does:
``<stem>_forward(x, out=y)`` then ``<stem>_backward(dout, saved, dx=dx)`` with
``saved`` the forward's output or input as the registry's ``saves`` says, on
preallocated float32 arrays, at ``ACTIVATION_SHAPES``. GELU also runs with
``approximate="tanh"`` (case ``gelu_tanh``).

PyTorch's side calls the ATen kernels that ``torch.nn.functional.<name>`` and its
autograd backward formula call (``derivatives.yaml``: ``threshold_backward`` for
ReLU, ``tanh_backward``, ``gelu_backward``, ...), in their ``out=`` /
``grad_input=`` forms into preallocated tensors: PyTorch's CPU eager kernels
without the graph bookkeeping or allocation, at the same thread count.

Bandwidth (:func:`memory_bandwidth`): STREAM's Copy (``a = b``) and Add
(``a = b + c``) on float32 arrays far larger than the L3 cache, run by ``threads``
Python threads on contiguous slices (NumPy releases the GIL), best of ``reps``;
bytes counted as STREAM counts them (each array read or written once, no
write-allocate traffic). An activation's floor is the time to read and write its
arrays once at those rates: forward reads x and writes y (Copy's mix), backward
reads dout and saved and writes dx (Add's mix), so
``floor_s = 8 n / copy_Bps + 12 n / add_Bps`` for n elements, and ``x_floor`` is
the measured fwd+bwd time over ``floor_s``. Arrays of the smaller shapes stay in
cache, where the DRAM floor understates what is possible: the figure means most
at 4096x1024 (16 MiB per array, 80 MiB in all, beyond the L3).
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
import time

import numpy as np

ACTIVATION_SHAPES = ((64, 128), (256, 1024), (4096, 1024))
ACTIVATION_QUICK_SHAPES = ((64, 128), (256, 1024))
BANDWIDTH_MIB = 256  # per array; --quick: 128
BANDWIDTH_QUICK_MIB = 128

# registry name -> (PyTorch forward into y, PyTorch backward into dx), each
# (torch, x, y, dout, dx, params) -> None; the ATen ops F.<name> and autograd call.


def _t_relu(t, x, y, d, dx, p):
    t.clamp_min(x, 0, out=y)


def _t_relu_b(t, x, y, d, dx, p):
    t.ops.aten.threshold_backward.grad_input(d, y, 0, grad_input=dx)


def _torch_ops():
    a = lambda t: t.ops.aten  # noqa: E731
    return {
        "relu": (_t_relu, _t_relu_b),
        "leaky_relu": (
            lambda t, x, y, d, dx, p: a(t).leaky_relu.out(x, p.get("negative_slope", 0.01), out=y),
            lambda t, x, y, d, dx, p: a(t).leaky_relu_backward.grad_input(
                d, x, p.get("negative_slope", 0.01), False, grad_input=dx)),
        "tanh": (lambda t, x, y, d, dx, p: t.tanh(x, out=y),
                 lambda t, x, y, d, dx, p: a(t).tanh_backward.grad_input(d, y, grad_input=dx)),
        "sigmoid": (lambda t, x, y, d, dx, p: t.sigmoid(x, out=y),
                    lambda t, x, y, d, dx, p: a(t).sigmoid_backward.grad_input(d, y,
                                                                               grad_input=dx)),
        "gelu": (lambda t, x, y, d, dx, p: a(t).gelu.out(x, approximate=p.get("approximate",
                                                                              "none"), out=y),
                 lambda t, x, y, d, dx, p: a(t).gelu_backward.grad_input(
                     d, x, approximate=p.get("approximate", "none"), grad_input=dx)),
        "silu": (lambda t, x, y, d, dx, p: a(t).silu.out(x, out=y),
                 lambda t, x, y, d, dx, p: a(t).silu_backward.grad_input(d, x, grad_input=dx)),
        "elu": (lambda t, x, y, d, dx, p: a(t).elu.out(x, p.get("alpha", 1.0), 1, 1, out=y),
                lambda t, x, y, d, dx, p: a(t).elu_backward.grad_input(
                    d, p.get("alpha", 1.0), 1, 1, True, y, grad_input=dx)),
        "softplus": (lambda t, x, y, d, dx, p: a(t).softplus.out(
                         x, p.get("beta", 1.0), p.get("threshold", 20.0), out=y),
                     lambda t, x, y, d, dx, p: a(t).softplus_backward.grad_input(
                         d, x, p.get("beta", 1.0), p.get("threshold", 20.0), grad_input=dx)),
    }


def activation_variants() -> list:
    """``[(case name, registry entry, params)]`` for every registered activation
    (``gelu`` twice: ``approximate="none"`` and, as ``gelu_tanh``, ``"tanh"``)."""
    from fastmlp.functional import ACTIVATIONS

    out = []
    for name, act in ACTIVATIONS.items():
        out.append((name, act, {}))
        pnames = {getattr(p, "name", None) for p in getattr(act, "params", ())}
        if name == "gelu" and "approximate" in pnames:
            out.append(("gelu_tanh", act, {"approximate": "tanh"}))
    return out


def activation_cases(shapes=ACTIVATION_SHAPES, torch=None, seed: int = 0) -> list:
    """The activation cases, as :func:`~.sides.layer_cases` returns them, plus per case
    ``elements`` and ``bytes`` (the fwd+bwd traffic counted once: 20 bytes/element) and
    ``skipped`` ({side: reason} for a side that cannot run)."""
    rng = np.random.default_rng(seed)
    ops = _torch_ops() if torch is not None else {}
    cases = []
    for name, act, params in activation_variants():
        fwd = functools.partial(act.forward, **params) if params else act.forward
        bwd = functools.partial(act.backward, **params) if params else act.backward
        saves = getattr(act, "saves", "output")
        for B, F in shapes:
            # N(0, 2): both sides of every kink and the saturating tails are visited
            x = (2.0 * rng.standard_normal((B, F))).astype(np.float32)
            dout = rng.standard_normal((B, F)).astype(np.float32)
            y, dx = np.empty_like(x), np.empty_like(x)
            saved = y if saves == "output" else x

            def ours(x=x, y=y, dout=dout, dx=dx, saved=saved, fwd=fwd, bwd=bwd):
                fwd(x, out=y)
                bwd(dout, saved, dx=dx)

            fns = {"fastmlp": ours}
            skipped = {}
            if torch is not None:
                base = name[:-5] if name == "gelu_tanh" else name
                if base in ops:
                    tf, tb = ops[base]
                    xt, yt, dt, dxt = (torch.from_numpy(v) for v in (x, y, dout, dx))

                    def theirs(xt=xt, yt=yt, dt=dt, dxt=dxt, tf=tf, tb=tb, p=params):
                        tf(torch, xt, yt, dt, dxt, p)
                        tb(torch, xt, yt, dt, dxt, p)

                    fns["torch"] = theirs
                elif name == "identity":
                    skipped["torch"] = "torch.nn.Identity returns its input: no kernel to time"
                else:
                    skipped["torch"] = f"no PyTorch op mapped for {name!r} in the bench"
            n = B * F
            cases.append({"name": f"{name} fwd+bwd", "activation": name, "params": params,
                          "shape": f"{B}x{F}", "unit": "Melem/s", "scale": 1e6, "work": float(n),
                          "gemm": False, "fns": fns, "skipped": skipped, "elements": n,
                          "bytes": 20 * n, "saves": saves})
    return cases


def memory_bandwidth(threads: int = 1, mib: int = BANDWIDTH_MIB, reps: int = 5) -> dict:
    """STREAM Copy and Add rates of this machine (see the module docstring), in bytes/s.

    Returns ``{"copy_Bps", "add_Bps", "copy_GBps", "add_GBps", "array_mib", "threads",
    "reps", "method"}``.
    """
    n = (int(mib) << 20) // 4
    a, b, c = (np.full(n, v, np.float32) for v in (0.0, 1.0, 2.0))  # touched: no page faults
    threads = max(1, int(threads))
    parts = [slice(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def timed(fn):
        best = float("inf")
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(fn, parts))  # warm-up
            for _ in range(max(1, reps)):
                t0 = time.perf_counter()
                list(ex.map(fn, parts))
                best = min(best, time.perf_counter() - t0)
        return best

    t_copy = timed(lambda s: np.copyto(a[s], b[s]))
    t_add = timed(lambda s: np.add(b[s], c[s], out=a[s]))
    copy_bps, add_bps = 8.0 * n / t_copy, 12.0 * n / t_add
    return {"copy_Bps": copy_bps, "add_Bps": add_bps, "copy_GBps": copy_bps / 1e9,
            "add_GBps": add_bps / 1e9, "array_mib": int(mib), "threads": threads,
            "reps": int(reps),
            "method": f"STREAM Copy a=b and Add a=b+c on float32 arrays of {int(mib)} MiB, "
                      f"NumPy in {threads} thread(s) on contiguous slices, best of {int(reps)}; "
                      "bytes as STREAM counts them"}


def floor_seconds(elements: int, bw: dict) -> float:
    """The time to read and write an activation's fwd+bwd arrays once (module docstring)."""
    return 8.0 * elements / bw["copy_Bps"] + 12.0 * elements / bw["add_Bps"]
