"""Run under ``mpirun -np N`` by tests/test_distributed.py (not a test module itself).

``python tests/distributed_worker.py OUT.npz CASE...``: for every case (see CASES) every
rank trains the same model data-parallel (fastmlp.train_epoch(..., comm=COMM_WORLD)) and
saves its final weights; rank 0 also trains one process on the same global batches
(comm=None). Saved per rank: OUT.npz with suffix .rank<r>. ``raise``: rank 1 raises
inside fastmlp.distributed.abort_on_error (the job must end non-zero, not hang).
"""
import os
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import fastmlp  # noqa: E402
from fastmlp import distributed, nn, optim  # noqa: E402
from helpers import seed_net  # noqa: E402

SIZES = (20, 24, 5)
LOSSES = {
    "ce": lambda: nn.CrossEntropyLoss(),
    "ce_w_ignore": lambda: nn.CrossEntropyLoss(weight=np.linspace(0.5, 2.0, SIZES[-1]),
                                               ignore_index=2),
    "ce_sum": lambda: nn.CrossEntropyLoss(reduction="sum"),
    "mse": lambda: nn.MSELoss(),
}
# name: (class, options); "lr" is scaled by 1/batch for a "sum" loss (the same steps).
OPTIMIZERS = {
    "sgd": (optim.SGD, dict(lr=0.05)),
    "momentum": (optim.SGD, dict(lr=0.05, momentum=0.9)),
    "adam": (optim.Adam, dict(lr=1e-3)),
    "adamw": (optim.AdamW, dict(lr=1e-3)),
    "rmsprop": (optim.RMSprop, dict(lr=1e-3)),
    "adagrad": (optim.Adagrad, dict(lr=0.01)),
}


def data(n, loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    if loss.startswith("ce"):
        y = rng.integers(0, SIZES[-1], n)
    else:
        y = rng.standard_normal((n, SIZES[-1])).astype(np.float32)
    return X, y


def train(case, comm, seed=0, sizes=SIZES):
    """case = loss-optimizer-path-n-batch[-clip], path: fused | loop (a Python criterion)."""
    loss, opt, path, n, batch, *rest = case.split("-")
    n, batch = int(n), int(batch)
    X, y = data(n, loss, seed)
    fastmlp.manual_seed(seed)
    model = seed_net(sizes=sizes, flatten=False)
    crit = LOSSES[loss]()
    if path == "loop":  # a criterion the planner does not know: the Python loop runs
        inner = crit

        def crit(out, target):
            return inner(out, target)
        crit.reduction = inner.reduction
        if hasattr(inner, "ignore_index"):
            crit.ignore_index, crit.weight = inner.ignore_index, inner.weight
    cls, kw = OPTIMIZERS[opt]
    if LOSSES[loss]().reduction == "sum":
        kw = dict(kw, lr=kw["lr"] / batch)
    o = cls(model.parameters(), **kw)
    if comm is not None:
        distributed.broadcast_parameters(model, comm=comm)
        distributed.broadcast_optimizer_state(o, comm=comm)
    perm = np.random.default_rng(seed + 7).permutation(n)
    clip = float(rest[0]) if rest else None
    res = {}
    if comm is not None:
        import logging
        records = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = lambda rec: records.append(rec.getMessage())
        log = logging.getLogger("fastmlp")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        try:
            fastmlp.train_epoch(model, X, y, crit, o, batch_size=batch, perm=perm, comm=comm,
                                clip_grad_norm=clip)
        finally:
            log.removeHandler(handler)
        # 1: the Python loop ran (logged by train_epoch), 0: the fused C++ epoch
        res[f"{case}/loop"] = np.int64(any("Python loop" in m for m in records))
    else:  # one step per call (the same weights as one call) to record the largest step
        steps = -(-n // batch)
        U = 0.0
        for s in range(steps):
            before = [p.data.copy() for p in model.parameters()]
            fastmlp.train_epoch(model, X, y, crit, o, batch_size=batch,
                                perm=perm[s * batch:(s + 1) * batch], clip_grad_norm=clip)
            U = max(U, max(float(np.abs(p.data - b).max())
                           for p, b in zip(model.parameters(), before)))
        res[f"{case}/U"] = np.float64(U)
        res[f"{case}/steps"] = np.int64(steps)
    res.update({f"{case}/{k}": v.copy() for k, v in model.state_dict().items()})
    return res


def main():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    out, cases = sys.argv[1], sys.argv[2:]
    fastmlp.set_num_threads(1)
    distributed.init(comm)
    with distributed.abort_on_error():
        if cases == ["raise"]:
            if comm.Get_rank() == 1:
                raise RuntimeError("raised on purpose on rank 1")
            comm.Barrier()  # rank 0 would wait here forever without the abort
            return
        if cases == ["mismatch"]:  # rank 1's hidden layer is wider
            sizes = SIZES if comm.Get_rank() == 0 else (SIZES[0], SIZES[1] + 1, SIZES[2])
            train("ce-sgd-fused-64-8", comm, sizes=sizes)
            return
        res = {}
        for seed in range(int(os.environ.get("FASTMLP_DIST_SEEDS", "1"))):
            for case in cases:
                key = f"{seed}:{case}"
                res.update({f"dist/{key}/{k.split('/', 1)[1]}": v
                            for k, v in train(case, comm, seed).items()})
                if comm.Get_rank() == 0:
                    res.update({f"single/{key}/{k.split('/', 1)[1]}": v
                                for k, v in train(case, None, seed).items()})
        np.savez(f"{out}.rank{comm.Get_rank()}.npz", **res)


if __name__ == "__main__":
    main()
