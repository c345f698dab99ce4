"""What the optimizer tests (tests/test_adam.py, test_adagrad.py, test_rmsprop.py,
test_optim.py) share, written once: the parameters they step, a closure's contract, and
the fused epoch's argument checks for an optimizer's per-parameter entries.
"""
import numpy as np
import pytest

from fastmlp import _core, nn


def params(rng, shapes=((4, 3), (4,), (2, 4))):
    """Three float32 parameters of standard normal values (a weight, a bias, a weight)."""
    return [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def check_closure(rng, make_opt, value):
    """``step(closure)`` runs the closure (which sets every gradient), returns its value
    and counts the step, as torch.optim does."""
    ps = params(rng)
    opt = make_opt(ps)

    def closure():
        for p in ps:
            p.grad = np.ones(p.shape, np.float32)
        return value

    assert opt.step(closure) == value and opt.state[ps[0]]["step"] == 1.0


def core_epoch_args(rng, kind, entry):
    """``_core.train_epoch`` keyword arguments of a 6-5-3 network (the second bias absent)
    stepped by optimizer ``kind`` over 20 rows in batches of 8 (3 steps); each of its three
    parameters' optimizer entries is ``entry(array)`` (a new dict per parameter)."""
    Ws = [rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)]
    bs = [np.zeros(5, np.float32), None]
    return dict(weights=Ws, biases=bs, activations=["relu", None],
                X=rng.standard_normal((20, 6)).astype(np.float32), y=rng.integers(0, 3, 20),
                perm=np.arange(20), batch_size=8, drop_last=False,
                optimizer={"kind": kind, "params": [entry(a) for a in (Ws[0], bs[0], Ws[1])]},
                loss="cross_entropy")


def check_core_bad_option(make_args, key, value, exc, match, alias_of):
    """The third parameter's optimizer entry with ``key`` set to ``value`` makes
    ``_core.train_epoch`` raise ``exc`` matching ``match`` before it writes anything (every
    weight, bias and state array keeps its bits), and the same arguments without the bad
    value then run. ``value == "alias"`` sets the entry to the memory of another array:
    the entry's state array ``alias_of``, or for ``alias_of == "param"`` the parameter
    itself."""
    kw = make_args()
    entry = kw["optimizer"]["params"][2]
    if isinstance(value, str) and value == "alias":
        value = kw["weights"][1] if alias_of == "param" else entry[alias_of]
    entry[key] = value
    arrays = kw["weights"] + [kw["biases"][0]] + [
        a for e in kw["optimizer"]["params"] for a in e.values() if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    with pytest.raises(exc, match=match):
        _core.train_epoch(**kw)
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b)
    loss, steps = _core.train_epoch(**make_args())
    assert steps == 3 and np.isfinite(loss)
