"""Run under ``mpirun -np N`` by tests/test_distributed.py (not a test module itself).

``python tests/distributed_worker.py OUT.npz CASE...``: for every case (see CASES) every
rank trains the same model data-parallel (fastmlp.train_epoch(..., comm=COMM_WORLD)) and
saves its final weights; rank 0 also trains one process on the same global batches
(comm=None). Saved per rank: OUT.npz with suffix .rank<r>. ``raise``: rank 1 raises
inside fastmlp.distributed.abort_on_error (the job must end non-zero, not hang).
"""
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
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-3),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.01),
}


def data(n, loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    if loss.startswith("ce"):
        y = rng.integers(0, SIZES[-1], n)
    else:
        y = rng.standard_normal((n, SIZES[-1])).astype(np.float32)
    return X, y


def train(case, comm):
    """case = loss-optimizer-path-n-batch[-clip], path: fused | loop (a Python criterion)."""
    loss, opt, path, n, batch, *rest = case.split("-")
    n, batch = int(n), int(batch)
    X, y = data(n, loss)
    fastmlp.manual_seed(1)
    model = seed_net(sizes=SIZES, flatten=False)
    crit = LOSSES[loss]()
    if path == "loop":  # a criterion the planner does not know: the Python loop runs
        inner = crit

        def crit(out, target):
            return inner(out, target)
        crit.reduction = inner.reduction
        if hasattr(inner, "ignore_index"):
            crit.ignore_index, crit.weight = inner.ignore_index, inner.weight
    o = OPTIMIZERS[opt](model.parameters())
    if comm is not None:
        distributed.broadcast_parameters(model, comm=comm)
    perm = np.random.default_rng(7).permutation(n)
    fastmlp.train_epoch(model, X, y, crit, o, batch_size=batch, perm=perm, comm=comm,
                        clip_grad_norm=float(rest[0]) if rest else None)
    return {f"{case}/{k}": v.copy() for k, v in model.state_dict().items()}


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
        res = {}
        for case in cases:
            res.update({"dist/" + k: v for k, v in train(case, comm).items()})
            if comm.Get_rank() == 0:
                res.update({"single/" + k: v for k, v in train(case, None).items()})
        np.savez(f"{out}.rank{comm.Get_rank()}.npz", **res)


if __name__ == "__main__":
    main()
