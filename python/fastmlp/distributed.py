"""Data-parallel training over MPI (``mpi4py``): ``pip install 'fastmlp[mpi]'``.

Every rank holds the whole model and the whole data set. Each step, every rank
takes its own disjoint slice of the same global batch (:class:`DistributedSampler`,
:func:`rank_slice`), computes the gradient of its slice's loss into ONE
contiguous float32 buffer that holds every gradient (:class:`GradBuffer`: the
parameters' ``.grad`` are views of it, so nothing is copied), scales it by its
share of the global batch and sums the buffer over the ranks with one in-place
``Allreduce``. Every rank then applies the same optimizer update to the same
summed gradient, so all ranks keep bitwise identical weights.

The scaling makes the sum the gradient of the global batch's loss for every
reduction: a rank's gradient of its slice's ``mean`` loss is multiplied by
``normaliser(slice) / normaliser(global batch)`` (:func:`loss_normaliser`: the
element or row count, or for cross-entropy / NLL with class weights or
``ignore_index`` the summed weights of the kept targets, exactly the kernels'
denominator); ``sum`` losses are summed unscaled. The only difference from one
process training on the global batch is the order of the batch sums (each
rank sums its slice, then the allreduce adds the partial sums): float32
rounding, not a different result.

``fastmlp.train_epoch(..., comm=comm)`` runs this inside the fused C++ epoch
(the allreduce is called from the C++ loop with the GIL released: the MPI
library's ``MPI_Allreduce`` is resolved at run time from the library mpi4py
loaded, see :func:`fused_comm`; the extension never links libmpi), or in the
Python loop when the fused path does not apply.

Nothing here imports ``mpi4py`` until a function that needs MPI is called:
``import fastmlp`` works without it.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import time

import numpy as np

__all__ = ["init", "get_comm", "rank", "world_size", "is_main_process", "rank_slice",
           "DistributedSampler", "GradBuffer", "loss_normaliser", "broadcast_parameters",
           "broadcast_optimizer_state", "check_same_model", "fused_comm", "abort_on_error",
           "communication_time"]

logger = logging.getLogger("fastmlp")

_state = {"comm": None, "seconds": 0.0}


def _mpi():
    """mpi4py's MPI module (imported on first use)."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("fastmlp.distributed needs mpi4py and an MPI library: "
                          "pip install 'fastmlp[mpi]' (Debian: apt-get install openmpi-bin "
                          "libopenmpi-dev)") from e
    return MPI


def init(comm=None):
    """Use ``comm`` (default ``MPI.COMM_WORLD``) for the functions here; returns
    ``(rank, world_size)``."""
    MPI = _mpi()
    _state["comm"] = MPI.COMM_WORLD if comm is None else comm
    return _state["comm"].Get_rank(), _state["comm"].Get_size()


def get_comm():
    """The communicator :func:`init` set, or None before it."""
    return _state["comm"]


def _comm(comm):
    if comm is not None:
        return comm
    if _state["comm"] is None:
        raise RuntimeError("fastmlp.distributed: call init() first (or pass comm=)")
    return _state["comm"]


def rank() -> int:
    """This process's rank (0 before :func:`init`)."""
    return 0 if _state["comm"] is None else _state["comm"].Get_rank()


def world_size() -> int:
    """The number of ranks (1 before :func:`init`)."""
    return 1 if _state["comm"] is None else _state["comm"].Get_size()


def is_main_process() -> bool:
    """True on rank 0 (and in a process that never called :func:`init`)."""
    return rank() == 0


def communication_time(reset: bool = False) -> float:
    """Seconds spent in the gradient allreduce by the training here so far (both paths)."""
    t = _state["seconds"]
    if reset:
        _state["seconds"] = 0.0
    return t


def _add_comm_time(seconds: float) -> None:
    _state["seconds"] += seconds


# ------------------------------------------------------------ the split --


def rank_slice(n: int, rank: int, world: int):
    """This rank's part ``[lo, hi)`` of a global batch of ``n`` rows: ``n // world`` rows
    each and one more for the first ``n % world`` ranks, in rank order; the parts are
    disjoint and their union is ``[0, n)`` (the C++ epoch's ``rank_slice``)."""
    base, rem = divmod(int(n), int(world))
    lo = rank * base + min(rank, rem)
    return lo, lo + base + (1 if rank < rem else 0)


class DistributedSampler:
    """``torch.utils.data.DistributedSampler``-style batches for data-parallel SGD.

    Every rank draws the same permutation of ``range(n)`` for an epoch (from ``seed``
    and the epoch number, :meth:`set_epoch`; ``shuffle=False``: in order) and cuts it
    into the same global batches of ``batch_size`` (the last one short unless
    ``drop_last``); iterating yields this rank's slice of each (:func:`rank_slice`),
    so the union over the ranks of a step's slices is exactly the one-process batch.

    Differs from PyTorch's, which splits the *epoch* into per-rank shards (padding
    them to equal length) and batches each shard: here the split is per global batch,
    so a step of N ranks trains on exactly the batch one process would.
    """

    def __init__(self, n: int, batch_size: int, *, rank=None, world_size=None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size = int(n), int(batch_size)
        self.rank = globals()["rank"]() if rank is None else int(rank)
        self.world_size = globals()["world_size"]() if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def permutation(self) -> np.ndarray:
        """The global order of this epoch (the same on every rank)."""
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n).astype(np.int64)

    def __len__(self) -> int:
        B = self.batch_size
        return self.n // B if self.drop_last else -(-self.n // B)

    def global_batches(self):
        perm = self.permutation()
        for s in range(len(self)):
            yield perm[s * self.batch_size:(s + 1) * self.batch_size]

    def __iter__(self):
        for g in self.global_batches():
            lo, hi = rank_slice(len(g), self.rank, self.world_size)
            yield g[lo:hi]


# ------------------------------------------------------ the gradients --


class GradBuffer:
    """Every gradient of ``params`` in one contiguous float32 buffer, plus one float
    for the step's loss (the last one): :meth:`attach` zeros it and makes each
    parameter's ``.grad`` a view of its part, so ``loss.backward()`` accumulates into
    the buffer in place and one ``Allreduce`` of :attr:`flat` reduces every gradient
    and the loss with no copy (PyTorch DDP's ``gradient_as_bucket_view``)."""

    def __init__(self, params):
        self.params = list(params)
        sizes = [int(p.data.size) for p in self.params]
        self.flat = np.zeros(sum(sizes) + 1, dtype=np.float32)
        self.views, off = [], 0
        for p, n in zip(self.params, sizes):
            self.views.append(self.flat[off:off + n].reshape(p.data.shape))
            off += n

    def attach(self) -> None:
        self.flat.fill(0)
        for p, v in zip(self.params, self.views):
            p.grad = v

    def allreduce(self, comm) -> float:
        """Sum :attr:`flat` over the ranks in place; returns the seconds it took."""
        MPI = _mpi()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, [self.flat, MPI.FLOAT], op=MPI.SUM)
        return time.perf_counter() - t0


def loss_normaliser(criterion, labels) -> float:
    """What ``criterion``'s reduction divides by over ``labels`` (this batch's targets):
    1 for ``sum``; for ``mean``: cross-entropy / NLL (a ``ignore_index`` attribute): the
    kept targets' summed class weights (sequentially in float64, as the kernels sum
    them), or their count; the other losses: the element count of the targets.
    The C++ epoch's ``loss_normaliser`` computes the same numbers."""
    reduction = getattr(criterion, "reduction", None)
    if reduction == "sum":
        return 1.0
    if reduction != "mean":
        raise ValueError(f"distributed training needs a criterion with reduction 'mean' or "
                         f"'sum', got {type(criterion).__name__} (reduction={reduction!r})")
    labels = np.asarray(labels)
    if hasattr(criterion, "ignore_index"):
        kept = labels[labels != criterion.ignore_index].astype(np.int64)
        w = criterion.weight
        if w is None:
            return float(kept.size)
        vals = np.asarray(w, dtype=np.float32).astype(np.float64)[kept]
        return float(np.cumsum(vals)[-1]) if vals.size else 0.0
    return float(labels.size)


# ------------------------------------------------------- start and state --


def _signature(model):
    return [(name, tuple(p.data.shape)) for name, p in model.named_parameters()]


def check_same_model(model, comm=None) -> None:
    """ValueError on every rank (never a hang) unless every rank's model has the same
    parameter names and shapes."""
    comm = _comm(comm)
    sigs = comm.allgather(_signature(model))
    for r, sig in enumerate(sigs):
        if sig != sigs[0]:
            n0 = sum(int(np.prod(s)) for _, s in sigs[0])
            nr = sum(int(np.prod(s)) for _, s in sig)
            diff = next((f"{a} vs {b}" for a, b in zip(sigs[0], sig) if a != b),
                        f"{len(sigs[0])} vs {len(sig)} parameter tensors")
            raise ValueError(f"fastmlp.distributed: rank {r}'s model differs from rank 0's "
                             f"({nr} vs {n0} parameters; first difference: {diff})")


def broadcast_parameters(model, root: int = 0, comm=None) -> None:
    """Copy rank ``root``'s parameters into every rank's model, in place (after
    :func:`check_same_model`)."""
    comm = _comm(comm)
    MPI = _mpi()
    check_same_model(model, comm)
    for p in model.parameters():
        comm.Bcast([p.data, MPI.FLOAT], root=root)
        p._bump_version()


def broadcast_optimizer_state(optimizer, root: int = 0, comm=None) -> None:
    """Make every rank's optimizer state and hyperparameters rank ``root``'s
    (its ``state_dict()``, loaded on the other ranks)."""
    comm = _comm(comm)
    sd = comm.bcast(optimizer.state_dict() if comm.Get_rank() == root else None, root=root)
    if comm.Get_rank() != root:
        # Own copies with numpy's canonical dtype objects: an unpickled array's dtype is
        # an equal but distinct object, which the core's dtype check (an identity test
        # against float32's) rejects; astype(type) copies into the canonical one.
        sd["state"] = {i: {k: v.astype(v.dtype.type) if isinstance(v, np.ndarray) else v
                           for k, v in st.items()} for i, st in sd["state"].items()}
        optimizer.load_state_dict(sd)


# ------------------------------------------------- the fused epoch's MPI --


def _libmpi_candidates():
    """Paths of the MPI libraries loaded in this process (after mpi4py.MPI's import)."""
    seen = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if line.strip() else ""
                base = os.path.basename(path)
                if base.startswith("libmpi") and ".so" in base and path not in seen:
                    seen.append(path)
    except OSError:  # pragma: no cover - not Linux
        pass
    return seen


def _allreduce_address() -> int:
    """The address of MPI_Allreduce in the MPI library mpi4py loaded: dlopen of that
    already loaded library (RTLD_NOLOAD: never a second copy), else the global scope."""
    libs = []
    for path in _libmpi_candidates():
        try:
            libs.append(ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_NOW))
        except OSError:
            continue
    libs.append(ctypes.CDLL(None))
    for lib in libs:
        try:
            return ctypes.cast(lib.MPI_Allreduce, ctypes.c_void_p).value
        except AttributeError:
            continue
    raise OSError("MPI_Allreduce not found in the loaded MPI library")


_fused_cache: dict = {}


def fused_comm(comm) -> dict:
    """The fused epoch's ``comm`` (``_core.train_epoch``): MPI_Allreduce's address and
    the handles of ``comm``, MPI_FLOAT, MPI_SUM and MPI_IN_PLACE as integers.

    Handle types differ between MPI families: Open MPI's are pointers to its objects
    (and ``MPI_IN_PLACE`` is ``(void*)1``); MPICH's and its derivatives' (Intel MPI,
    MVAPICH, Cray MPICH) are ``int`` (``MPI_IN_PLACE`` is ``(void*)-1``). The family is
    read from ``MPI.Get_library_version()``; another library raises NotImplementedError
    (``train_epoch`` then runs its Python loop, which reduces through mpi4py)."""
    MPI = _mpi()
    version = MPI.Get_library_version()
    if "Open MPI" in version:
        int_handles, in_place = False, 1
    elif any(k in version for k in ("MPICH", "Intel(R) MPI", "MVAPICH")):
        int_handles, in_place = True, -1
    else:
        raise NotImplementedError(f"the fused epoch knows Open MPI's and MPICH's handles, "
                                  f"not {version.splitlines()[0]!r}")
    key = (version, MPI._handleof(comm))
    if key not in _fused_cache:
        def handle(obj):
            h = int(MPI._handleof(obj))
            return h - (1 << 32) if int_handles and h >= (1 << 31) else h
        _fused_cache[key] = dict(allreduce=_allreduce_address(), int_handles=int_handles,
                                 comm=handle(comm), float=handle(MPI.FLOAT), sum=handle(MPI.SUM),
                                 in_place=in_place)
    return dict(_fused_cache[key], rank=comm.Get_rank(), world=comm.Get_size())


# ------------------------------------------------------------- failure --


@contextlib.contextmanager
def abort_on_error(comm=None):
    """Run the block; an exception on this rank is logged with the rank and its message
    on stderr and the whole job is aborted (``comm.Abort(1)``), so the other ranks never
    hang in a collective waiting for this one."""
    try:
        yield
    except BaseException as e:
        if isinstance(e, SystemExit) and not e.code:
            raise
        c = comm if comm is not None else (_state["comm"] or _mpi().COMM_WORLD)
        print(f"fastmlp: rank {c.Get_rank()} of {c.Get_size()}: {type(e).__name__}: {e}",
              file=sys.stderr, flush=True)
        c.Abort(1)
        raise
