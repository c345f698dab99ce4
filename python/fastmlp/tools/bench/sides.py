"""The sides of ``fastmlp bench``: fastmlp, NumPy, PyTorch and scikit-learn doing the same work."""
from __future__ import annotations

import copy
import warnings

import numpy as np

from ..seed import (SEED_CLASSES, SEED_HIDDEN, SEED_IN, fused_fallback_reason, seed_net,
                    seed_optimizer)
from .harness import _log, _torch


def gemm_sides(M, K, N, trans_a, trans_b, rng, torch=None) -> dict:
    """{side: zero-argument callable} computing C = op(A) @ op(B) on float32 operands drawn
    from ``rng`` (A then B): op(A) is (M, K), op(B) is (K, N), C (M, N) preallocated.
    Sides: "fastmlp" (``kernels.sgemm``), "numpy" (``np.matmul``), "torch" (``torch.mm``,
    when the ``torch`` module is given); the gemm suite and bench/bench_gemm.py run these."""
    from fastmlp import kernels

    ta, tb = trans_a, trans_b
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    c = np.empty((M, N), np.float32)
    ao, bo = (a.T if ta else a), (b.T if tb else b)
    fns = {
        "fastmlp": lambda: kernels.sgemm(a, b, c, trans_a=ta, trans_b=tb),
        "numpy": lambda: np.matmul(ao, bo, out=c),
    }
    if torch is not None:
        at, bt, ct = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        at, bt = (at.t() if ta else at), (bt.t() if tb else bt)
        fns["torch"] = lambda: torch.mm(at, bt, out=ct)
    return fns


def layer_cases(batch: int, torch=None, seed: int = 0) -> list:
    """The layers suite's cases at one batch size, for this module and bench/bench_layers.py.

    A list of ``{"name", "shape", "unit", "scale", "work", "gemm", "fns"}``:
    ``fns`` maps a side ("fastmlp", "numpy", and "torch" when the ``torch``
    module is given) to a zero-argument callable on preallocated float32
    arrays; throughput is ``work / seconds / scale`` in ``unit``. Linear
    backward computes dX, dW and db; ``gemm`` marks GEMM-bound cases.
    """
    from fastmlp import kernels

    B = int(batch)
    rng = np.random.default_rng(seed)
    cases = []

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def add(name, shape, unit, scale, work, fns, gemm=False):
        cases.append({"name": name, "shape": shape, "unit": unit, "scale": scale,
                      "work": float(work), "gemm": gemm, "fns": fns})

    fc = (("fc1", (SEED_IN, SEED_HIDDEN)), ("fc2", (SEED_HIDDEN, SEED_CLASSES)))
    for layer, (IN, OUT) in fc:
        x, W, bias, dy = f32(B, IN), f32(OUT, IN), f32(OUT), f32(B, OUT)
        y, dx, dW, db = (np.empty((B, OUT), np.float32), np.empty((B, IN), np.float32),
                         np.empty((OUT, IN), np.float32), np.empty(OUT, np.float32))
        fwd = {
            "fastmlp": lambda x=x, W=W, bias=bias, y=y: kernels.sgemm(
                x, W, y, trans_b=True, bias=bias),
            "numpy": lambda x=x, W=W, bias=bias, y=y: np.add(
                np.matmul(x, W.T, out=y), bias, out=y),
        }

        def _ours_bwd(x=x, W=W, dy=dy, dx=dx, dW=dW, db=db):
            kernels.sgemm(dy, W, dx)
            kernels.sgemm(dy, x, dW, trans_a=True)
            kernels.bias_grad(dy, db)

        def _np_bwd(x=x, W=W, dy=dy, dx=dx, dW=dW, db=db):
            np.matmul(dy, W, out=dx)
            np.matmul(dy.T, x, out=dW)
            np.sum(dy, axis=0, out=db)

        bwd = {"fastmlp": _ours_bwd, "numpy": _np_bwd}
        if torch is not None:
            xt, Wt, bt, dyt = (torch.from_numpy(v) for v in (x, W, bias, dy))
            yt, dxt, dWt, dbt = (torch.from_numpy(v) for v in (y, dx, dW, db))
            fwd["torch"] = lambda xt=xt, Wt=Wt, bt=bt, yt=yt: torch.addmm(bt, xt, Wt.t(), out=yt)

            def _torch_bwd(xt=xt, Wt=Wt, dyt=dyt, dxt=dxt, dWt=dWt, dbt=dbt):
                torch.mm(dyt, Wt, out=dxt)
                torch.mm(dyt.t(), xt, out=dWt)
                torch.sum(dyt, 0, out=dbt)

            bwd["torch"] = _torch_bwd
        flops = 2.0 * B * IN * OUT
        add(f"Linear fwd {layer}", f"{B}x{IN}->{OUT}", "GFLOP/s", 1e9, flops, fwd, True)
        add(f"Linear bwd {layer}", f"{B}x{IN}->{OUT}", "GFLOP/s", 1e9, 2 * flops, bwd, True)

    H = SEED_HIDDEN
    h, dout = f32(B, H), f32(B, H)
    y, dh = np.empty((B, H), np.float32), np.empty((B, H), np.float32)
    np.maximum(h, 0, out=y)
    rf = {"fastmlp": lambda: kernels.relu_forward(h, y),
          "numpy": lambda: np.maximum(h, 0, out=y)}
    rb = {"fastmlp": lambda: kernels.relu_backward(dout, y, dh),
          "numpy": lambda: np.multiply(dout, y > 0, out=dh)}
    if torch is not None:
        ht, ot, dot = torch.from_numpy(h), torch.from_numpy(y), torch.from_numpy(dout)
        rf["torch"] = lambda: torch.clamp_min(ht, 0, out=ot)
        rb["torch"] = lambda: torch.ops.aten.threshold_backward(dot, ot, 0)
    add("ReLU fwd", f"{B}x{H}", "Melem/s", 1e6, B * H, rf)
    add("ReLU bwd", f"{B}x{H}", "Melem/s", 1e6, B * H, rb)

    C = SEED_CLASSES
    z, t = f32(B, C), rng.integers(0, C, B).astype(np.int64)
    dz = np.empty((B, C), np.float32)
    rows = np.arange(B)

    def _np_ce():
        m = z.max(axis=1, keepdims=True)
        np.subtract(z, m, out=dz)
        np.exp(dz, out=dz)
        s = dz.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, t]))
        np.divide(dz, s, out=dz)
        dz[rows, t] -= 1
        np.multiply(dz, np.float32(1.0 / B), out=dz)
        return loss

    ce = {"fastmlp": lambda: kernels.cross_entropy(z, t, dlogits=dz)[0], "numpy": _np_ce}
    if torch is not None:
        zt, tt, one = torch.from_numpy(z), torch.from_numpy(t), torch.ones(())
        aten = torch.ops.aten

        def _torch_ce():  # the ATen calls F.cross_entropy and its backward make
            logp = aten._log_softmax(zt, 1, False)
            loss, tw = aten.nll_loss_forward(logp, tt, None, 1, -100)
            g = aten.nll_loss_backward(one, logp, tt, None, 1, -100, tw)
            aten._log_softmax_backward_data(g, logp, 1, torch.float32)
            return loss.item()

        ce["torch"] = _torch_ce
    add("cross-entropy fwd+bwd", f"{B}x{C}", "Msample/s", 1e6, B, ce)
    return cases


def load_train_data(root=None, n=None, *, raw=False):
    """(X float32 (N, 784), y int64 (N,), description): Fashion-MNIST or random.
    With ``raw``, a 4th item: the uint8 images (N, 784) that X normalizes."""
    from fastmlp import data as fdata

    try:
        images, labels = fdata.load_mnist(root, kind="fashion-mnist", download=False)
        source = "fashion-mnist"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 60000)
        source = "random MNIST-shaped data (Fashion-MNIST not found)"
    if n is not None:
        images, labels = images[:n], labels[:n]
    out = (fdata.normalize(images), np.ascontiguousarray(labels, dtype=np.int64), source)
    return out + (np.ascontiguousarray(images.reshape(len(images), -1)),) if raw else out


def _init_numpy(rng):
    """The seed network's weights as NumPy arrays, from nn.Linear's default distribution."""
    IN, H, C = SEED_IN, SEED_HIDDEN, SEED_CLASSES
    k1, k2 = 1 / np.sqrt(IN), 1 / np.sqrt(H)
    return dict(W1=rng.uniform(-k1, k1, (H, IN)).astype(np.float32),
                b1=rng.uniform(-k1, k1, H).astype(np.float32),
                W2=rng.uniform(-k2, k2, (C, H)).astype(np.float32),
                b2=rng.uniform(-k2, k2, C).astype(np.float32))


def _numpy_epoch(st, X, y, b, rng):
    W1, b1, W2, b2 = st["W1"], st["b1"], st["W2"], st["b2"]
    lr = np.float32(0.01)
    perm = rng.permutation(len(X))
    running, steps = 0.0, 0
    for s in range(0, len(X), b):
        idx = perm[s:s + b]
        x, t = X[idx], y[idx]
        n = len(idx)
        rows = np.arange(n)
        h = x @ W1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ W2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        s_ = p.sum(axis=1, keepdims=True)
        running += float(np.mean(np.log(s_[:, 0]) - z[rows, t]))
        p /= s_
        p[rows, t] -= 1
        p /= n
        dW2, db2 = p.T @ h, p.sum(axis=0)
        dh = p @ W2
        dh *= h > 0
        dW1, db1 = dh.T @ x, dh.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        steps += 1
    return running / steps


def _seed_loop(batches, model, crit, opt):
    """The seed script's inner loop over ``batches`` (fastmlp's or torch's); the mean loss."""
    running, steps = 0.0, 0
    for inputs, labels in batches:
        opt.zero_grad()
        loss = crit(model(inputs), labels)
        loss.backward()
        opt.step()
        running += loss.item()
        steps += 1
    return running / steps


def train_sides(X, y, b, peers, images=None):
    """{side: one-epoch callable} for batch size ``b`` (state persists across epochs).
    ``images``: the uint8 pixels X was normalized from, for the ``fastmlp-u8`` side."""
    from fastmlp import data as fdata

    fns = {}
    try:  # our nn/optim/train API
        from fastmlp import nn, optim, train_epoch

        torch_like_seed = getattr(nn, "manual_seed", None)
        if torch_like_seed:
            torch_like_seed(0)
        seq = seed_net("sequential")
        crit, opt = nn.CrossEntropyLoss(), optim.SGD(seq.parameters(), lr=0.01)
        seeds = iter(range(1, 1 << 30))
        fns["fastmlp"] = lambda: train_epoch(seq, X, y, crit, opt, batch_size=b, shuffle=True,
                                             seed=next(seeds))
        if images is not None:  # the same, converting the uint8 rows as it gathers them
            seq8 = copy.deepcopy(seq)
            opt8 = optim.SGD(seq8.parameters(), lr=0.01)
            seeds8 = iter(range(1, 1 << 30))
            fns["fastmlp-u8"] = lambda: train_epoch(seq8, images, y, crit, opt8, batch_size=b,
                                                    shuffle=True, seed=next(seeds8),
                                                    normalize=True)

        net = seed_net("script")
        loop_state = net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01)
        lseeds = iter(range(1, 1 << 30))
        fns["fastmlp-loop"] = lambda: _seed_loop(
            fdata.DataLoader(X, y, batch_size=b, shuffle=True, seed=next(lseeds)), *loop_state)
    except Exception as e:  # a peer's module still landing
        _log(f"  train: fastmlp nn/optim/train_epoch unavailable ({type(e).__name__}: {e})")

        def _fail(e=e):
            raise e

        fns.setdefault("fastmlp", _fail)

    nst, nrng = _init_numpy(np.random.default_rng(0)), np.random.default_rng(1)
    fns["numpy"] = lambda: _numpy_epoch(nst, X, y, b, nrng)

    torch = _torch(peers)
    if torch:
        torch.manual_seed(0)

        def _seed_state():  # a fresh model, criterion and optimizer
            model = seed_net("script", backend="torch")
            return model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01)

        Xt, yt, gen = torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(0)
        t_state = _seed_state()

        def _torch_epoch():  # batches cut from in-memory tensors by a shuffled index
            perm = torch.randperm(len(Xt), generator=gen)
            batches = ((Xt[perm[s:s + b]], yt[perm[s:s + b]]) for s in range(0, len(Xt), b))
            return _seed_loop(batches, *t_state)

        fns["torch"] = _torch_epoch

        # The seed script exactly as PyTorch users run it: its trainloader a
        # torch DataLoader (shuffle=True) over a TensorDataset, a model of its own.
        l_state = _seed_state()
        tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt),
                                              batch_size=b, shuffle=True,
                                              generator=torch.Generator().manual_seed(0))
        fns["torch-loader"] = lambda: _seed_loop(tloader, *l_state)

    if peers.get("sklearn", {}).get("available"):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        sk_seeds = iter(range(1, 1 << 30))

        def _sklearn_epoch():
            clf = MLPClassifier(solver="sgd", hidden_layer_sizes=(SEED_HIDDEN,), batch_size=b,
                                learning_rate_init=0.01, momentum=0, max_iter=1,
                                random_state=next(sk_seeds))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            return clf.loss_

        fns["sklearn"] = _sklearn_epoch
    return fns


# The train suite's variants of the seed recipe: (optimizer, activation), each timed
# against the SGD/ReLU fused epoch in the same run; lr: seed_optimizer's defaults.
TRAIN_VARIANTS = (("adam", "relu"), ("sgd", "gelu"), ("adam", "gelu"))


def train_variant_sides(X, y, b, peers, optimizer, activation):
    """(fns, skipped, info) for one variant at batch size ``b``: ``fns`` has "fastmlp"
    (``train_epoch`` of the seed Sequential with ``activation`` and ``optimizer``),
    "fastmlp-base" (the same with ReLU and SGD lr 0.01) and, with PyTorch, "torch" (the
    variant's recipe on in-memory tensor batches); ``skipped`` {side: reason} for a side
    this build cannot run (a module or optimizer still landing); ``info``: ``fused``
    (True/False, None when not run) and ``fallback`` (train_epoch's DEBUG reason)."""
    fns, skipped, info = {}, {}, {"fused": None, "fallback": None}
    from fastmlp import nn, train_epoch

    def fused_side(opt_name, act_name, seed):
        nn.manual_seed(seed)
        model = seed_net("sequential", activation=act_name)
        crit = nn.CrossEntropyLoss()
        opt = seed_optimizer(opt_name, model.parameters())
        seeds = iter(range(1, 1 << 30))
        fn = lambda: train_epoch(model, X, y, crit, opt, batch_size=b,  # noqa: E731
                                 shuffle=True, seed=next(seeds))
        return fn, fused_fallback_reason(model, crit, opt, X, y, batch_size=b)

    try:
        fns["fastmlp"], why = fused_side(optimizer, activation, 0)
        info.update(fused=why is None, fallback=why)
        if why is not None:
            _log(f"  train {optimizer}/{activation}: NOT fused: {why}")
    except (LookupError, ImportError) as e:
        skipped["fastmlp"] = f"not in this build: {e}"
        skipped["fastmlp-base"] = "not run: the variant is not in this build"
        return fns, skipped, info
    fns["fastmlp-base"], _ = fused_side("sgd", "relu", 0)

    torch = _torch(peers)
    if torch and "fastmlp" in fns:
        torch.manual_seed(0)
        try:
            model = seed_net("sequential", backend="torch", activation=activation)
            state = (model, torch.nn.CrossEntropyLoss(),
                     seed_optimizer(optimizer, model.parameters(), backend="torch"))
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            gen = torch.Generator().manual_seed(0)

            def _torch_epoch():
                perm = torch.randperm(len(Xt), generator=gen)
                batches = ((Xt[perm[s:s + b]], yt[perm[s:s + b]]) for s in range(0, len(Xt), b))
                return _seed_loop(batches, *state)

            fns["torch"] = _torch_epoch
        except (LookupError, AttributeError) as e:
            skipped["torch"] = f"{type(e).__name__}: {e}"
    return fns, skipped, info
