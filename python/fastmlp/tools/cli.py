"""The ``fastmlp`` command line: ``train``, ``evaluate``, ``info`` and ``bench``.

::

    fastmlp train [--dataset fashion-mnist] [--hidden 128 ...] [--epochs 10] [--save model.npz]
    fastmlp evaluate --model model.npz [--dataset fashion-mnist]
    fastmlp info
    fastmlp bench ...            (fastmlp.tools.bench, when this build has it)

Also ``python -m fastmlp ...``. Every subcommand takes ``--json`` for
machine-readable output on stdout (and nothing else on stdout).

A mistake the user can fix (bad option value, data not found, a corrupt data
or model file, an unwritable ``--save`` path) prints one ``fastmlp: error:``
line on stderr, with no traceback, and exits 2 for a bad option (argparse's
code) or 1 otherwise. Ctrl-C exits 130 and saves nothing. Anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from fastmlp.tools.seed import OPTIMIZERS

__all__ = ["main", "build_parser", "FASHION_MNIST_CLASSES", "MNIST_CLASSES"]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(i) for i in range(10))
_CLASSES = {"fashion-mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES}
_DISPLAY = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
N_CLASSES = 10

# With a progress bar the fused epoch is cut into calls of about this many
# seconds (tqdm redraws at most every 0.1 s anyway), so the bar moves while
# the per-call overhead stays negligible (bench/results/README.md, "### fastmlp
# train: progress-bar chunks").
_CHUNK_SECONDS = 0.1
_FIRST_CHUNK_FRACTION = 1 / 20

_EXIT_INTERRUPTED = 130

def _threads_type():
    """``--threads``' parser type: an integer in [1, fastmlp._core.max_threads()], the bound
    set_num_threads itself enforces (one bound, in the core; a typo such as 100000 is a
    usage error before anything runs)."""
    from fastmlp import _core

    return _int_type(1, _core.max_threads())


class UserError(Exception):
    """A mistake the user can fix: printed as ``fastmlp: error: <message>``, exit 1."""


class UsageError(UserError):
    """Options that do not go together: printed like argparse's errors, exit 2."""


# ------------------------------------------------------------- parsing --


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``fastmlp: error: ...``) instead of usage + error."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"fastmlp: error: {message} (see '{self.prog} --help')\n")


def _int_type(lo: int, hi: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise argparse.ArgumentTypeError(f"must be an integer {rng}, got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def _float_type(lo: float, *, strict: bool):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v) or v < lo or (strict and v == lo):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {'>' if strict else '>='} {lo:g}, got {text}")
        return v

    parse.__name__ = "number"
    return parse


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= v < 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {text}")
    return v


_probability.__name__ = "probability"


def _activation_choices() -> list:
    """``--activation``'s choices: the names of fastmlp.functional.ACTIVATIONS that have a
    module (and ``gelu_tanh``, GELU(approximate="tanh"), when GELU takes ``approximate``)."""
    from fastmlp.functional import ACTIVATIONS
    from fastmlp.tools.seed import ACTIVATION_MODULES

    names = [n for n in ACTIVATIONS if n in ACTIVATION_MODULES]
    gelu = ACTIVATIONS.get("gelu")
    if gelu is not None and "approximate" in {getattr(p, "name", None)
                                              for p in getattr(gelu, "params", ())}:
        names.append("gelu_tanh")
    return names


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=("fashion-mnist", "mnist"), default="fashion-mnist",
                   help="which dataset (default: %(default)s; Debian ships it as "
                        "dataset-fashion-mnist, MNIST has no Debian package)")
    p.add_argument("--data", metavar="DIR",
                   help="directory holding the four IDX files (plain or .gz), searched first; "
                        "then $FASTMLP_DATA, ~/.cache/fastmlp/<dataset>, /usr/share/datasets/<dataset>")
    p.add_argument("--no-download", action="store_true",
                   help="never download the dataset; fail if it is not found locally")


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and its subparsers by name (``bench`` gets its arguments lazily)."""
    from fastmlp import __version__

    parser = _Parser(prog="fastmlp",
                     description="Train and evaluate multilayer perceptrons on the CPU with "
                                 "fastmlp's C++ kernels.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    subs = {}

    p = sub.add_parser(
        "train", help="train an MLP on (Fashion-)MNIST",
        description="Train an MLP (784-hidden...-10, cross-entropy) on MNIST or "
                    "Fashion-MNIST with the fused C++ epoch and report test loss and accuracy "
                    "after every epoch. The defaults are the seed network: 784-128-10, ReLU, "
                    "SGD lr 0.01, batch 64, 10 epochs. Inputs are scaled to [0, 1]. Any "
                    "--optimizer/--activation/--dropout/--clip-grad-norm combination this "
                    "build fuses runs in C++; others run the Python loop (said at the start).")
    _add_data_arguments(p)
    p.add_argument("--hidden", type=_int_type(1), action="append", metavar="N",
                   help="width of a hidden layer; repeat for deeper nets (--hidden 256 --hidden "
                        "128); default: one layer of 128")
    p.add_argument("--epochs", type=_int_type(1), default=10, metavar="N",
                   help="epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=_int_type(1, 2**63 - 1), default=64, metavar="N",
                   help="mini-batch size (default: %(default)s)")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd",
                   help="the optimizer, torch.optim's class with its PyTorch defaults for every "
                        "option not given here (default: %(default)s)")
    p.add_argument("--lr", type=_float_type(0.0, strict=True), default=None,
                   help="learning rate (default: 0.01 for sgd, the seed recipe; else "
                        "torch.optim's default: adam and adamw 0.001, rmsprop 0.01). With "
                        "--schedule it is the base (onecycle: the maximum) learning rate")
    p.add_argument("--momentum", type=_float_type(0.0, strict=False), default=None,
                   metavar="M", help="momentum of sgd and rmsprop, PyTorch semantics "
                                     "(default: 0)")
    p.add_argument("--weight-decay", type=_float_type(0.0, strict=False), default=None,
                   metavar="WD", help="weight decay: L2 for sgd/adam/rmsprop, decoupled for "
                                      "adamw (default: the optimizer's, 0; adamw 0.01)")
    acts = _activation_choices()
    p.add_argument("--activation", choices=acts, default="relu",
                   help="activation after each hidden layer, the nn module of that "
                        "fastmlp.functional.ACTIVATIONS name (default: %(default)s"
                        + ("; gelu_tanh is GELU(approximate='tanh'))" if "gelu_tanh" in acts
                           else ")"))
    p.add_argument("--dropout", type=_probability, default=0.0, metavar="P",
                   help="nn.Dropout(P) after each hidden activation, P in [0, 1) (default: 0, "
                        "none); the test set is evaluated in eval mode (no dropout)")
    p.add_argument("--schedule", choices=("constant", "step", "cosine", "onecycle"),
                   default="constant",
                   help="learning-rate schedule, stepped once per epoch (the fused epoch runs "
                        "one learning rate per epoch): constant; step = StepLR(step_size = a "
                        "third of the epochs after warm-up, gamma=0.1); cosine = "
                        "CosineAnnealingLR(T_max = the epochs after warm-up); onecycle = "
                        "OneCycleLR(max_lr=--lr, total_steps=--epochs), which cycles momentum "
                        "(betas[0] for adam) as PyTorch does (default: %(default)s)")
    p.add_argument("--warmup-epochs", type=_int_type(0), default=0, metavar="N",
                   help="linear warm-up over the first N epochs, LinearLR(start_factor=1/(N+1), "
                        "total_iters=N), then --schedule, chained with SequentialLR; N < "
                        "--epochs; not with onecycle (default: 0)")
    p.add_argument("--clip-grad-norm", type=_float_type(0.0, strict=True), default=None,
                   metavar="MAX",
                   help="clip the gradients' total 2-norm to MAX before every step "
                        "(nn.utils.clip_grad_norm_; default: no clipping)")
    p.add_argument("--threads", type=_threads_type(), metavar="N",
                   help="OpenMP threads (default: fastmlp's default, i.e. OMP_NUM_THREADS or "
                        "all cores)")
    p.add_argument("--normalize", choices=("standard", "unit"), default="standard",
                   help="input scaling for training: 'standard' = pixels in [0, 1], then minus "
                        "the dataset's mean over its std (PyTorch's MNIST example does this); "
                        "'unit' = pixels in [0, 1] only (default: %(default)s). A saved model "
                        "always takes [0, 1] pixels: the scaling is folded into its first layer")
    p.add_argument("--seed", type=_int_type(0, 2**63 - 1), metavar="N",
                   help="seed for initialisation and shuffling (default: a fresh one, printed)")
    p.add_argument("--save", metavar="PATH",
                   help="write the trained model here (.npz, fastmlp.save) after the last "
                        "epoch, atomically; nothing is written if training is interrupted")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are also off when stderr is not a terminal)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per epoch on stdout and nothing else there")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI (needs mpi4py: pip install "
                        "'fastmlp[mpi]'), run as 'mpirun -np N fastmlp train --distributed "
                        "...': --batch-size is the global batch, split over the ranks; rank 0 "
                        "alone prints, evaluates and saves; an error on any rank aborts the job")
    p.set_defaults(func=cmd_train)
    subs["train"] = p

    p = sub.add_parser(
        "evaluate", help="test loss, accuracy and confusion matrix of a saved model",
        description="Evaluate a model saved by 'fastmlp train --save' (or fastmlp.save) on the "
                    "test set: loss, accuracy, per-class accuracy and the 10x10 confusion matrix.")
    p.add_argument("--model", required=True, metavar="PATH", help="model file (.npz)")
    _add_data_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_evaluate)
    subs["evaluate"] = p

    p = sub.add_parser(
        "info", help="version, CPU paths, threads, OpenMP, build, NumPy/BLAS",
        description="What this fastmlp is and runs on: version, CPU capability in use and "
                    "available, threads, the OpenMP runtime, how the core was built, NumPy "
                    "and its BLAS.")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_info)
    subs["info"] = p

    p = sub.add_parser("bench", help="benchmarks against NumPy, PyTorch and scikit-learn",
                       description="Benchmarks (fastmlp.tools.bench).")
    p.set_defaults(func=None)
    subs["bench"] = p
    return parser, subs


def _subcommand(argv) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
        if a == "--":
            break
    return None


# ---------------------------------------------------------------- data --


def _load_dataset(args, *, train: bool, progress, raw: bool = False):
    """(X float32 (N, features) in [0, 1], y int64 (N,)) or UserError; with ``raw``,
    X is the uint8 pixels (N, features) as stored."""
    from fastmlp.data import DatasetNotFoundError, load_mnist, normalize

    if args.data is not None and not os.path.isdir(args.data):
        raise UserError(f"--data {args.data}: not a directory")
    try:
        images, labels = load_mnist(args.data, kind=args.dataset, train=train,
                                    download=not args.no_download, progress=progress)
    except DatasetNotFoundError as e:
        hint = "  (here: pass --data DIR" + (", or run without --no-download)" if args.no_download
                                            else ")")
        raise UserError(f"{e}\n{hint}") from None
    except (ValueError, OSError) as e:  # corrupt / unreadable files; the message names the file
        raise UserError(str(e)) from None
    if len(labels) and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise UserError(f"{_DISPLAY[args.dataset]} {'training' if train else 'test'} labels must "
                        f"be in [0, {N_CLASSES}), found {int(labels.min())}..{int(labels.max())}")
    if len(labels) == 0:
        raise UserError(f"the {_DISPLAY[args.dataset]} {'training' if train else 'test'} set is empty")
    if raw:
        return images.reshape(len(images), -1), labels
    return normalize(images), labels


def _evaluate(model, X, y, batch: int = 4096):
    """(mean cross-entropy, accuracy, predictions) of model on (X, y), without gradients."""
    import numpy as np

    from fastmlp import no_grad
    from fastmlp.kernels import cross_entropy

    loss_sum = 0.0
    pred = np.empty(len(X), dtype=np.int64)
    with no_grad():
        for s in range(0, len(X), batch):
            out = model(X[s:s + batch])
            logits = np.ascontiguousarray(getattr(out, "data", out), dtype=np.float32)
            loss_sum += cross_entropy(logits, y[s:s + batch], reduction="sum", dlogits=False)[0]
            pred[s:s + batch] = logits.argmax(axis=1)
    n = len(X)
    return loss_sum / n, float(np.count_nonzero(pred == y)) / n, pred


def _architecture(model) -> str:
    from fastmlp import nn

    lins = [m for m in model.modules() if type(m) is nn.Linear]
    if not lins:
        return type(model).__name__
    return "-".join([str(lins[0].in_features)] + [str(m.out_features) for m in lins])


def _n_params(model) -> int:
    return sum(int(p.data.size) for p in model.parameters())


# --------------------------------------------------------------- train --


def _train_epoch_progress(model, X, y, criterion, optimizer, *, batch_size, seed, bar,
                          normalize=None, **train_kw):
    """One epoch, bitwise the same as ``train_epoch(..., shuffle=True, seed=seed)``, cut into
    calls of about ``_CHUNK_SECONDS`` so that ``bar`` (a tqdm over samples) moves.

    The permutation is the one ``train_epoch`` draws from ``seed``; each call trains on the
    next run of whole batches of it, in order, and the optimizer state carries over between
    calls, so the weights are those of one call. When ``train_epoch`` takes the visiting
    order itself (``perm=``) the calls index X directly; otherwise each call gets the
    gathered rows with ``shuffle=False`` (a copy of X per epoch, slower).
    Returns the mean of the step losses, as ``train_epoch`` does. ``train_kw`` (e.g.
    ``clip_grad_norm``) goes to every call.
    """
    import inspect

    import numpy as np

    from fastmlp import train_epoch

    takes_perm = "perm" in inspect.signature(train_epoch).parameters
    n = len(X)
    perm = np.random.default_rng(seed).permutation(n)
    steps_total = -(-n // batch_size)
    chunk = max(1, int(steps_total * _FIRST_CHUNK_FRACTION))
    done = 0
    loss_sum = 0.0
    while done < steps_total:
        k = min(chunk, steps_total - done)
        s, e = done * batch_size, min(n, (done + k) * batch_size)
        idx = perm[s:e]
        t0 = time.perf_counter()
        if takes_perm:
            loss = train_epoch(model, X, y, criterion, optimizer, batch_size=batch_size, perm=idx,
                               normalize=normalize, **train_kw)
        else:
            loss = train_epoch(model, X[idx], y[idx], criterion, optimizer,
                               batch_size=batch_size, shuffle=False, normalize=normalize,
                               **train_kw)
        loss_sum += k * loss
        dt = time.perf_counter() - t0
        done += k
        bar.update(e - s)
        chunk = max(1, int(k * _CHUNK_SECONDS / dt)) if dt > 0 else 2 * k
    return loss_sum / steps_total


def _check_save_path(path: str) -> str:
    """Fail before training, not after it, when --save cannot be written."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise UserError(f"--save {path}: is a directory")
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        raise UserError(f"--save {path}: directory {d} does not exist")
    if not os.access(d, os.W_OK | os.X_OK):
        raise UserError(f"--save {path}: directory {d} is not writable")
    return path


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _dumps(obj) -> str:
    """JSON with non-finite floats (a diverged loss) as null, so any parser reads it."""
    if isinstance(obj, dict):
        obj = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in obj.items()}
    return json.dumps(obj)


def _fmt_time(s: float) -> str:
    return f"{s:.2f} s" if s < 100 else f"{s / 60:.1f} min"


def _standardization(args):
    """(mean, std) that cmd_train applies after scaling pixels to [0, 1]."""
    if args.normalize == "unit":
        return 0.0, 1.0
    from fastmlp import data

    if args.dataset == "fashion-mnist":
        return data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD
    return data.MNIST_MEAN, data.MNIST_STD


def _fold_standardization(model, mean: float, std: float):
    """A copy of `model` that takes [0, 1] pixels: first Linear W x' + b with
    x' = (x - mean)/std becomes (W/std) x + (b - (mean/std) * W.sum(1))."""
    if mean == 0.0 and std == 1.0:
        return model
    import copy

    import numpy as np

    from fastmlp import nn

    folded = copy.deepcopy(model)
    first = next(m for m in folded.modules() if isinstance(m, nn.Linear))
    w = first.weight.data.astype(np.float64)
    first.weight.data[...] = w / std
    if first.bias is not None:
        first.bias.data[...] = first.bias.data - (mean / std) * w.sum(axis=1)
    return folded


def _check_train_options(args) -> None:
    """The checks argparse cannot make alone (options that do not go together); UsageError."""
    if args.momentum is not None and args.optimizer in ("adam", "adamw"):
        raise UsageError(f"--momentum applies to sgd and rmsprop, not --optimizer "
                         f"{args.optimizer} (its betas keep PyTorch's defaults)")
    if args.warmup_epochs and args.schedule == "onecycle":
        raise UsageError("--warmup-epochs does not go with --schedule onecycle (OneCycleLR "
                         "warms up by itself, over pct_start=0.3 of the epochs)")
    if args.warmup_epochs and args.warmup_epochs >= args.epochs:
        raise UsageError(f"--warmup-epochs must be less than --epochs ({args.epochs}), got "
                         f"{args.warmup_epochs}")


def _build_training(args, n_inputs: int, hidden):
    """(model, optimizer, scheduler or None, train_epoch keywords) from the options;
    UserError when this build lacks a feature asked for."""
    import inspect

    from fastmlp import train_epoch
    from fastmlp.tools.seed import seed_net, seed_optimizer

    try:
        model = seed_net("sequential", hidden=hidden, in_features=n_inputs, classes=N_CLASSES,
                         flatten=False, activation=args.activation, dropout=args.dropout)
    except LookupError as e:
        flag = "--dropout" if "Dropout" in str(e) else f"--activation {args.activation}"
        raise UserError(f"{flag}: {e}") from None
    options = {}
    if args.momentum is not None:
        options["momentum"] = args.momentum
    if args.weight_decay is not None:
        options["weight_decay"] = args.weight_decay
    try:
        optimizer = seed_optimizer(args.optimizer, model.parameters(), lr=args.lr, **options)
    except LookupError as e:
        raise UserError(f"--optimizer {args.optimizer}: {e}") from None
    train_kw = {}
    if args.clip_grad_norm is not None:
        if "clip_grad_norm" not in inspect.signature(train_epoch).parameters:
            raise UserError("--clip-grad-norm: this build's train_epoch has no clip_grad_norm")
        train_kw["clip_grad_norm"] = args.clip_grad_norm
    return model, optimizer, _scheduler(args, optimizer), train_kw


def _scheduler(args, optimizer):
    """The per-epoch learning-rate scheduler of --schedule and --warmup-epochs, as PyTorch
    users chain them (LinearLR warm-up, then the schedule, in SequentialLR); or None."""
    from fastmlp.optim import lr_scheduler as sched

    warm = args.warmup_epochs
    rest = args.epochs - warm
    if args.schedule == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"],
                                total_steps=args.epochs)
    main = None
    if args.schedule == "step":
        main = sched.StepLR(optimizer, step_size=max(1, rest // 3), gamma=0.1)
    elif args.schedule == "cosine":
        main = sched.CosineAnnealingLR(optimizer, T_max=rest)
    if not warm:
        return main
    warmup = sched.LinearLR(optimizer, start_factor=1.0 / (warm + 1), end_factor=1.0,
                            total_iters=warm)
    if main is None:  # constant after the warm-up: LinearLR stays at end_factor
        return warmup
    return sched.SequentialLR(optimizer, schedulers=[warmup, main], milestones=[warm])


def _optimizer_text(args, optimizer) -> str:
    g = optimizer.param_groups[0]
    # the base lr: a scheduler's first step may already have scaled group["lr"]
    base = g.get("max_lr") if args.schedule == "onecycle" else g.get("initial_lr", g["lr"])
    text = f"{type(optimizer).__name__} lr {base:g}"
    if "momentum" in g:
        text += f" momentum {g['momentum']:g}"
    text += f" weight decay {g.get('weight_decay', 0):g}"
    if args.schedule != "constant" or args.warmup_epochs:
        text += f", schedule {args.schedule}"
        if args.warmup_epochs:
            text += f" after {_plural(args.warmup_epochs, 'warm-up epoch')}"
    if args.clip_grad_norm is not None:
        text += f", clip grad norm {args.clip_grad_norm:g}"
    return text


def cmd_train(args) -> int:
    if not args.distributed:
        return _cmd_train(args)
    try:
        from fastmlp import distributed
        distributed.init()
    except ImportError as e:
        raise UserError(f"--distributed: {e}") from None
    with distributed.abort_on_error():
        return _cmd_train(args, distributed.get_comm())


def _cmd_train(args, comm=None) -> int:
    """``fastmlp train``; ``comm``: --distributed's communicator (see cmd_train)."""
    import numpy as np

    import fastmlp
    from fastmlp import nn, train_epoch
    from fastmlp.data import normalize
    from fastmlp.tools.seed import fused_fallback_reason

    _check_train_options(args)
    out = sys.stdout
    log = sys.stderr if args.json else sys.stdout  # human-readable lines
    world, main_rank = 1, True
    if comm is not None:  # rank 0 alone prints
        world, main_rank = comm.Get_size(), comm.Get_rank() == 0
        if not main_rank:
            out = log = open(os.devnull, "w")
    hidden = args.hidden or [128]
    save_path = _check_save_path(args.save) if args.save else None
    if args.threads is not None:
        try:
            fastmlp.set_num_threads(args.threads)
        except (ValueError, OverflowError) as e:
            raise UsageError(f"--threads {args.threads}: {e}") from None
    progress = False if args.no_progress else None  # None: tqdm shows it only on a terminal

    # The training images stay uint8: train_epoch converts each gathered batch exactly as
    # data.normalize(batch, mean, std) would (a quarter of the memory, and of the bytes
    # each epoch reads). The test images are converted once, for evaluation.
    X, y = _load_dataset(args, train=True, progress=progress, raw=True)
    Xt, yt = _load_dataset(args, train=False, progress=progress, raw=True)
    if X.shape[1] != Xt.shape[1]:
        raise UserError(f"training images have {X.shape[1]} pixels, test images {Xt.shape[1]}")
    mean, std = _standardization(args)
    norm = (mean, std) if std != 1.0 or mean != 0.0 else (None, None)
    Xt = normalize(Xt, *norm)

    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**63)
    if comm is not None:  # every rank trains from rank 0's seed (initialisation, order)
        seed = comm.bcast(seed, root=0)
    init_seed, shuffle_seed = (int(v) for v in np.random.SeedSequence(seed).generate_state(2, np.uint64))
    nn.manual_seed(init_seed)  # weights
    rng = np.random.default_rng(shuffle_seed)  # one shuffling seed per epoch
    model, optimizer, scheduler, train_kw = _build_training(args, X.shape[1], hidden)
    criterion = nn.CrossEntropyLoss()
    if comm is not None:
        from fastmlp import distributed
        distributed.broadcast_parameters(model, comm=comm)  # fails clearly on a mismatch
        distributed.broadcast_optimizer_state(optimizer, comm=comm)
        train_kw["comm"] = comm
    why = fused_fallback_reason(model, criterion, optimizer, X, y, batch_size=args.batch_size,
                                normalize=norm, **train_kw)

    name = _DISPLAY[args.dataset]
    act = args.activation + (f", dropout {args.dropout:g}" if args.dropout else "")
    print(f"{name}: {len(X)} training, {len(Xt)} test images; model {_architecture(model)} "
          f"{act} ({_n_params(model):,} parameters), {_optimizer_text(args, optimizer)}, "
          f"batch {args.batch_size}, {args.epochs} epochs; "
          f"seed {seed}; {fastmlp.cpu_capability()}, {_plural(fastmlp.get_num_threads(), 'thread')}"
          + (f" per rank, {world} MPI ranks" if comm is not None else ""),
          file=log, flush=True)
    if why is not None:
        print(f"note: not fused, running the Python loop: {why}", file=log, flush=True)

    # (Distributed: no bar. The bar cuts an epoch into timed calls, each a collective
    # whose length would differ between the ranks.)
    use_bar = not args.no_progress and sys.stderr.isatty() and comm is None
    total_train = 0.0
    done = 0
    try:
        for epoch in range(1, args.epochs + 1):
            epoch_seed = int(rng.integers(2**63))
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            if comm is not None:
                from fastmlp import distributed
                distributed.communication_time(reset=True)
            t0 = time.perf_counter()
            if use_bar:
                from tqdm import tqdm

                with tqdm(total=len(X), desc=f"epoch {epoch}/{args.epochs}", unit="img",
                          unit_scale=True, leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
                    train_loss = _train_epoch_progress(model, X, y, criterion, optimizer,
                                                       batch_size=args.batch_size,
                                                       seed=epoch_seed, bar=bar, normalize=norm,
                                                       **train_kw)
            else:
                train_loss = train_epoch(model, X, y, criterion, optimizer,
                                         batch_size=args.batch_size, shuffle=True, seed=epoch_seed,
                                         normalize=norm, **train_kw)
            t_train = time.perf_counter() - t0
            if scheduler is not None:
                scheduler.step()
            model.eval()
            # Distributed: rank 0 alone evaluates (the others go on to the next epoch).
            test_loss, test_acc, _ = (_evaluate(model, Xt, yt) if main_rank
                                      else (math.nan, math.nan, None))
            wall = time.perf_counter() - t0
            total_train += t_train
            done = epoch
            rec = {"epoch": epoch, "epochs": args.epochs, "train_loss": train_loss,
                   "test_loss": test_loss, "test_accuracy": test_acc,
                   "samples_per_sec": len(X) / t_train, "train_time": t_train, "wall_time": wall,
                   "total_train_time": total_train, "lr": lr, "fused": why is None}
            comm_text = ""
            if comm is not None:
                rec["world_size"] = world
                rec["comm_time"] = distributed.communication_time()
                comm_text = f"  {world} ranks, comm {_fmt_time(rec['comm_time'])}"
            if args.json:
                print(_dumps(rec), file=out, flush=True)
            else:
                w = len(str(args.epochs))
                print(f"epoch {epoch:>{w}}/{args.epochs}  train loss {train_loss:.4f}  "
                      f"test loss {test_loss:.4f}  test acc {100 * test_acc:6.2f}%  "
                      f"{len(X) / t_train:>9,.0f} samples/s  {_fmt_time(wall)}" + comm_text
                      + (f"  lr {lr:.3g}" if scheduler is not None else ""), file=out,
                      flush=True)
            if not math.isfinite(train_loss):
                raise UserError(f"training diverged (loss {train_loss}) in epoch {epoch}; "
                                f"try a smaller --lr (now {lr:g})")
    except KeyboardInterrupt:
        print(f"\nfastmlp: interrupted during epoch {done + 1}/{args.epochs}; "
              f"{'no model saved' if save_path else 'stopping'}", file=sys.stderr, flush=True)
        return _EXIT_INTERRUPTED

    print(f"trained {args.epochs} epochs in {_fmt_time(total_train)} "
          f"({args.epochs * len(X) / total_train:,.0f} samples/s); test accuracy "
          f"{100 * test_acc:.2f}%", file=log, flush=True)
    if save_path and main_rank:  # distributed: rank 0 alone saves (atomically, as always)
        from fastmlp import save

        try:
            save(_fold_standardization(model, mean, std), save_path)
        except OSError as e:
            raise UserError(f"cannot save the model to {save_path}: {e}") from None
        print(f"saved {save_path}", file=log, flush=True)
    return 0


# ------------------------------------------------------------ evaluate --


def _load_model(path: str):
    from fastmlp import load, nn

    try:
        model = load(path)
    except FileNotFoundError:
        raise UserError(f"--model {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"--model {path}: is a directory") from None
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    if not isinstance(model, nn.Module):
        raise UserError(f"{path}: holds weights but no architecture to rebuild (it was not "
                        f"saved from an nn.Sequential of Linear/ReLU/Flatten layers)")
    model.eval()  # Dropout off: evaluation is deterministic
    return model


def cmd_evaluate(args) -> int:
    import numpy as np

    from fastmlp import nn

    model = _load_model(args.model)
    lins = [m for m in model.modules() if type(m) is nn.Linear]
    Xt, yt = _load_dataset(args, train=False, progress=False if args.json else None)
    if not lins or lins[0].in_features != Xt.shape[1] or lins[-1].out_features != N_CLASSES:
        raise UserError(f"{args.model}: model {_architecture(model)} does not fit "
                        f"{_DISPLAY[args.dataset]} ({Xt.shape[1]} inputs, {N_CLASSES} classes)")
    t0 = time.perf_counter()
    loss, acc, pred = _evaluate(model, Xt, yt)
    dt = time.perf_counter() - t0
    cm = np.bincount(yt * N_CLASSES + pred, minlength=N_CLASSES * N_CLASSES)
    cm = cm.reshape(N_CLASSES, N_CLASSES)
    support = cm.sum(axis=1)
    per_class = [float(cm[i, i] / support[i]) if support[i] else None for i in range(N_CLASSES)]
    names = list(_CLASSES[args.dataset])
    if args.json:
        print(_dumps({
            "model": os.path.abspath(args.model), "architecture": _architecture(model),
            "dataset": args.dataset, "n": int(len(yt)), "test_loss": loss, "test_accuracy": acc,
            "correct": int(np.trace(cm)), "classes": names, "per_class_accuracy": per_class,
            "confusion_matrix": cm.tolist(), "time": dt,
        }))
        return 0
    print(f"{args.model}: model {_architecture(model)}, {_DISPLAY[args.dataset]} test set "
          f"({len(yt)} images)")
    print(f"test loss {loss:.4f}  accuracy {100 * acc:.2f}% ({int(np.trace(cm))}/{len(yt)})")
    print("confusion matrix (rows: true class, columns: predicted class):")
    nw = max(len(s) for s in names) + 3
    cw = max(5, len(str(int(cm.max()))) + 1)
    print(" " * nw + "".join(f"{j:>{cw}}" for j in range(N_CLASSES)) + "  accuracy")
    for i in range(N_CLASSES):
        lab = f"{i} {names[i]}" if args.dataset == "fashion-mnist" else str(i)
        acc_i = "n/a" if per_class[i] is None else f"{100 * per_class[i]:.1f}%"
        print(f"{lab:<{nw}}" + "".join(f"{int(v):>{cw}}" for v in cm[i]) + f"  {acc_i:>8}")
    return 0


# ---------------------------------------------------------------- info --

_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                    201811: "5.0", 202011: "5.1", 202111: "5.2", 202411: "6.0"}


def _cpu_model() -> str | None:
    import platform

    from fastmlp.tools.machine import cpu_model

    model = cpu_model()
    return model if model is not None else (platform.processor() or None)


def _info() -> dict:
    import platform

    import numpy as np
    from threadpoolctl import threadpool_info

    import fastmlp
    from fastmlp import _core
    from fastmlp.tools.machine import cpu_id

    pools = threadpool_info()
    keep = ("internal_api", "version", "num_threads", "filepath", "prefix", "threading_layer",
            "architecture")
    openmp = [{k: p.get(k) for k in keep if k in p} for p in pools if p.get("user_api") == "openmp"]
    blas = [{k: p.get(k) for k in keep if k in p} for p in pools if p.get("user_api") == "blas"]
    build = dict(_core.build_info)
    omp = build.get("openmp")
    return {
        "version": fastmlp.__version__,
        "core": _core.__file__,
        "cpu": _cpu_model(),
        "cpu_capability": fastmlp.cpu_capability(),
        "available_cpu_capabilities": fastmlp.available_cpu_capabilities(),
        "cpu_capability_override": os.environ.get("FASTMLP_CPU_CAPABILITY") or None,
        "threads": fastmlp.get_num_threads(),
        "cpus": os.cpu_count(),
        "openmp": openmp,
        "build": build,
        "build_openmp_spec": _OPENMP_VERSIONS.get(omp) if isinstance(omp, int) else None,
        "numpy": {"version": np.__version__, "blas": blas},
        "python": platform.python_version(),
        "platform": platform.platform(),
        # blk: caches, CPU class, micro-kernel and blocking of the GEMM
        "cpu_id": cpu_id(),
        "gemm": fastmlp.gemm_config(),
        "cpu_class_override": os.environ.get("FASTMLP_CPU_CLASS") or None,
    }


def _gemm_rows(info: dict) -> list:
    """blk: the ``fastmlp info`` rows of the GEMM plan."""
    from fastmlp.tools.machine import format_caches

    g = info["gemm"]
    src = g["cache_source"] + (f"; differs from sysfs: {g['cache_mismatch']}" if g["cache_mismatch"]
                               else "")
    cls = g["cpu_class"] + (f" (FASTMLP_CPU_CLASS; detected {g['detected_cpu_class']})"
                            if g["cpu_class"] != g["detected_cpu_class"] else " (detected)")
    block = f"MC,KC,NC = {g['mc']},{g['kc']},{g['nc']} " + (
        "(FASTMLP_GEMM_BLOCKING)" if g["blocking_overridden"] else "(cache model)")
    return [
        ("CPU id", f"{info['cpu_id']} ({g['vendor']} family {g['family']} model {g['model']} "
                   f"stepping {g['stepping']})"),
        ("caches", f"{format_caches(g['caches'])} [{src}]"),
        ("CPU class", cls),
        ("GEMM", f"{g['micro_kernel']} ({g['mr']}x{g['nr']} tile, operands from {g['operands_from']}, "
                 f"A {'packed' if g['pack_a'] else 'read in place'}"
                 + (f", B prefetched {g['prefetch_b_k']} k ahead" if g["prefetch_b_k"] else "")
                 + f") on {g['isa']}; {block}"),
        # small: the narrow-N paths as sgemm runs them now
        ("narrow GEMM", f"kernels by shape {', '.join(g['swap_kernels'])} (direct"
                        + (" and swapped paths" if g["swap_path"] else " path; swapped path off")
                        + "), dot path " + (f"on ({g['dot_kernel']})" if g["dot_kernel"] else "off")),
    ]


def _pool_str(p: dict) -> str:
    s = (p.get("prefix") if p.get("internal_api") == "openmp" else None) or p.get("internal_api") or "?"
    if p.get("version"):
        s += f" {p['version']}"
    extra = [f"{p['num_threads']} threads"] if p.get("num_threads") is not None else []
    if p.get("threading_layer"):
        extra.append(f"{p['threading_layer']} threading")
    if p.get("architecture"):
        extra.append(f"{p['architecture']} kernels")
    return s + (f" ({', '.join(extra)})" if extra else "") + (
        f"\n{'':19}{p['filepath']}" if p.get("filepath") else "")


def cmd_info(args) -> int:
    info = _info()
    if args.json:
        print(json.dumps(info))
        return 0
    b = info["build"]
    cap = info["cpu_capability"]
    if info["cpu_capability_override"]:
        cap += f" (FASTMLP_CPU_CAPABILITY={info['cpu_capability_override']})"
    omp = b.get("openmp")
    omp_s = ("no" if not omp else
             (f"{info['build_openmp_spec']} " if info["build_openmp_spec"] else "") + f"(_OPENMP {omp})")
    rows = [
        ("fastmlp", f"{info['version']}  ({info['core']})"),
        ("CPU", info["cpu"] or "unknown"),
        ("CPU capability", f"{cap}; available: {', '.join(info['available_cpu_capabilities'])}"),
        ("threads", f"{info['threads']} (of {info['cpus']} CPUs)"),
        *_gemm_rows(info),
        ("OpenMP runtime", "\n".join(_pool_str(p) for p in info["openmp"]) or "none found"),
        ("built with", f"{b.get('compiler') or '?'}, {b.get('build_type') or '?'}, "
                       f"flags '{(b.get('cxx_flags') or '').strip()}'"),
        ("", f"OpenMP {omp_s}; sanitized: {'yes' if b.get('sanitized') else 'no'}"
             + (f"; core version {b['version']}" if b.get("version") else "")),
        ("NumPy", info["numpy"]["version"]),
        ("NumPy BLAS", "\n".join(_pool_str(p) for p in info["numpy"]["blas"]) or "none found"),
        ("Python", f"{info['python']} on {info['platform']}"),
    ]
    for k, v in rows:
        lines = v.split("\n")
        print(f"{k + (':' if k else ''):<19}{lines[0]}")
        for extra in lines[1:]:
            print(extra if extra.startswith(" " * 19) else f"{'':19}{extra}")
    return 0


# ---------------------------------------------------------------- main --


def main(argv=None) -> int:
    """Run the command line; returns the exit code (``fastmlp`` console script entry point)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subs = build_parser()
    if _subcommand(argv) == "bench":
        try:
            from fastmlp.tools import bench
        except ModuleNotFoundError as e:
            if e.name != "fastmlp.tools.bench":
                raise
            print("fastmlp bench: not available in this build", file=sys.stderr)
            return 2
        bench.add_arguments(subs["bench"])
        subs["bench"].set_defaults(func=bench.run)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, bad options
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"fastmlp: error: {e} (see 'fastmlp {args.command} --help')", file=sys.stderr,
              flush=True)
        return 2
    except UserError as e:
        print(f"fastmlp: error: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nfastmlp: interrupted", file=sys.stderr, flush=True)
        return _EXIT_INTERRUPTED
    except MemoryError as e:  # an impossible size (--hidden, --batch-size): not a bug
        print(f"fastmlp: error: out of memory{': ' + str(e) if str(e) else ''} (try smaller "
              f"sizes: --hidden, --batch-size)", file=sys.stderr, flush=True)
        return 1
    except BrokenPipeError:  # e.g. `fastmlp train --json | head -1`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 1
