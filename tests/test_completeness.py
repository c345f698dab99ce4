"""The newcomer's checklist: everything an op, a layer or an optimizer must come with.

Each test walks the public surface and fails naming exactly what is missing:

- every public kernel in ``fastmlp.kernels``: a ``fastmlp.reference`` twin whose
  parameters the kernel's extend (the kernel may only add destination arguments), a
  ``_core`` binding of the same name, its entry in ``_core.pyi``, a test file
  ``tests/test_<stem>.py`` that calls it, and a C++ source ``csrc/**/<stem>.cpp``
  defining it (``stem``: the name without ``_forward``/``_backward``/``_update``/``_loss``);
- every activation in ``fastmlp.functional.ACTIVATIONS``: its forward and backward
  kernels are public kernels (so they are covered above), and a declared epilogue is
  one the GEMM takes;
- every ``fastmlp.nn`` module class: a declared fused-plan role and a save/load round
  trip through ``fastmlp.save``/``load`` (rebuilt from the file, same state);
- every ``fastmlp.optim`` optimizer: a declared fused kernel (a public kernel
  ``<kind>_update``) or a stated reason it has none.

CONTRIBUTING.md ("How to add an op") walks the same list file by file.
"""
from __future__ import annotations

import ast
import inspect
import pathlib
import re

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, kernels, nn, optim, reference
from fastmlp import functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CSRC = ROOT / "csrc"
STUB = pathlib.Path(_core.__file__).with_name("_core.pyi")

#: public kernels that are not ops, with the reason they have no twin, test file or source
NOT_OPS = {
    "peak_gflops": "a measurement of this CPU's FMA ceiling for benchmarks, not an op",
}
#: parameter names a kernel may add to its twin's: where it writes its results
DESTINATIONS = {"out", "c", "dx", "db", "dlogits", "dpred", "dinput"}
_SUFFIXES = ("_forward", "_backward", "_update", "_loss")


def stem(name: str) -> str:
    for s in _SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def public_kernels():
    return [n for n in kernels.__all__ if n not in NOT_OPS]


def stub_functions() -> set:
    if not STUB.exists():
        return set()
    tree = ast.parse(STUB.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def kernel_problems(name: str) -> list:
    """What kernel ``name`` lacks, as readable lines (empty: complete)."""
    missing = []
    fn = getattr(kernels, name, None)
    twin = getattr(reference, name, None)
    if fn is None:
        return [f"fastmlp.kernels.{name} is listed in __all__ but not defined"]
    if twin is None:
        missing.append(f"fastmlp.reference.{name} (the NumPy float64 twin)")
    else:
        ours = [p.name for p in inspect.signature(fn).parameters.values()]
        ref = [p.name for p in inspect.signature(twin).parameters.values()]
        extra = [p for p in ours if p not in ref]
        if [p for p in ours if p in ref] != ref:
            missing.append(f"kernels.{name}{tuple(ours)} does not take reference.{name}'s "
                           f"parameters {tuple(ref)} in that order")
        if set(extra) - DESTINATIONS:
            missing.append(f"kernels.{name} adds non-destination parameters "
                           f"{sorted(set(extra) - DESTINATIONS)} to reference.{name}")
    if not hasattr(_core, name):
        missing.append(f"fastmlp._core.{name} (the binding)")
    if name not in stub_functions():
        missing.append(f"an entry for {name} in {STUB.name}")
    test = TESTS / f"test_{stem(name)}.py"
    if not test.exists():
        missing.append(f"tests/{test.name}")
    elif not re.search(rf"\b{name}\b", test.read_text()):
        missing.append(f"a call of {name} in tests/{test.name}")
    sources = [p for p in CSRC.rglob(f"{stem(name)}.cpp")
               if re.search(rf"\b{name}\s*\(", p.read_text())]
    if not sources:
        missing.append(f"csrc/**/{stem(name)}.cpp defining {name}(...)")
    return missing


@pytest.mark.parametrize("name", public_kernels())
def test_every_kernel_has_twin_binding_stub_test_and_source(name):
    missing = kernel_problems(name)
    assert not missing, f"kernel {name} is missing:\n  " + "\n  ".join(missing)


def test_every_reference_function_is_a_kernel_or_a_helper_of_one():
    """A twin without a kernel is a kernel nobody wrote."""
    helpers: set = set()
    orphans = [n for n in reference.__all__ if n not in kernels.__all__ and n not in helpers]
    assert not orphans, f"reference functions with no kernel: {orphans}"


@pytest.mark.parametrize("name", sorted(F.ACTIVATIONS))
def test_every_activation_is_made_of_public_kernels(name):
    act = F.ACTIVATIONS[name]
    missing = []
    for role in ("forward", "backward"):
        kname = f"{name}_{role}"
        if getattr(kernels, kname, None) is not getattr(act, role):
            missing.append(f"ACTIVATIONS[{name!r}].{role} is not fastmlp.kernels.{kname}")
    if act.saves not in ("output", "input"):
        missing.append(f"ACTIVATIONS[{name!r}].saves must be 'output' or 'input'")
    if act.epilogue is not None:
        x = np.ones((1, 1), np.float32)
        try:
            kernels.sgemm(x, x, activation=act.epilogue)
        except (TypeError, ValueError) as e:
            missing.append(f"the GEMM epilogue {act.epilogue!r} is not accepted: {e}")
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------ nn --

#: one instance of every public module class, built with options that differ from the
#: defaults where there are any (so a round trip that dropped them would show)
EXAMPLES = {
    "Linear": lambda: nn.Linear(5, 3, bias=False),
    "ReLU": lambda: nn.ReLU(inplace=True),
    "Flatten": lambda: nn.Flatten(2, 3),
    "Identity": lambda: nn.Identity(),
    "Sequential": lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(),
                                        nn.Linear(3, 2)),
    "ModuleList": lambda: nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]),
    "CrossEntropyLoss": lambda: nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]),
                                                    ignore_index=1, reduction="sum",
                                                    label_smoothing=0.25),
    "MSELoss": lambda: nn.MSELoss(reduction="sum"),
    "L1Loss": lambda: nn.L1Loss(reduction="none"),
    "HuberLoss": lambda: nn.HuberLoss(reduction="sum", delta=0.5),
    "SmoothL1Loss": lambda: nn.SmoothL1Loss(reduction="none", beta=2.0),
    "BCEWithLogitsLoss": lambda: nn.BCEWithLogitsLoss(weight=np.array([1.0, 2.0, 0.5]),
                                                      reduction="sum",
                                                      pos_weight=np.array([3.0, 1.0, 0.25])),
    "Dropout": lambda: nn.Dropout(p=0.25, inplace=True),
    # softmax modules, NLLLoss (issue 10)
    "Softmax": lambda: nn.Softmax(dim=0),
    "LogSoftmax": lambda: nn.LogSoftmax(dim=-1),
    "NLLLoss": lambda: nn.NLLLoss(weight=np.array([1.0, 2.0, 0.5]), ignore_index=1, reduction="sum"),
    # activations (issue 10)
    "LeakyReLU": lambda: nn.LeakyReLU(0.2, inplace=True),
    "Tanh": lambda: nn.Tanh(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "GELU": lambda: nn.GELU(approximate="tanh"),
    "SiLU": lambda: nn.SiLU(inplace=True),
    "ELU": lambda: nn.ELU(alpha=0.5, inplace=True),
    "Softplus": lambda: nn.Softplus(beta=2.0, threshold=10.0),
}


def module_classes():
    out = []
    for name in nn.__all__:
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj is not nn.Module:
            out.append(name)
    return out


@pytest.mark.parametrize("name", module_classes())
def test_every_module_declares_a_fused_role(name):
    cls = getattr(nn, name)
    assert cls.fused_role is not nn.Module.fused_role, (
        f"nn.{name} declares no fused_role(): say what it is to the fused planner, or "
        f"return FusedRole('unsupported', why=...)")
    assert name in EXAMPLES, f"tests/test_completeness.py: EXAMPLES has no nn.{name}"
    role = EXAMPLES[name]().fused_role()
    assert isinstance(role, nn.FusedRole)
    kinds = {"linear", "activation", "flatten", "sequence", "loss", "dropout", "log_softmax",
             "unsupported",
             "softmax"}  # infer (issue 12): the one-call forward's last module
    assert role.kind in kinds, f"nn.{name}: unknown role kind {role.kind!r}"
    if role.kind == "unsupported":
        assert role.why, f"nn.{name}: an unsupported role must say why"
    if role.kind == "activation":
        assert role.activation in F.ACTIVATIONS, f"nn.{name}: {role.activation!r} unknown"
    if role.kind == "dropout":
        assert isinstance(role.p, float) and 0 <= role.p < 1, f"nn.{name}: dropout p {role.p!r}"


@pytest.mark.parametrize("name", module_classes())
def test_every_module_round_trips_through_save_and_load(name, tmp_path):
    assert name in EXAMPLES, f"tests/test_completeness.py: EXAMPLES has no nn.{name}"
    m = EXAMPLES[name]()
    path = tmp_path / f"{name}.npz"
    fastmlp.save(m, path)
    loaded = fastmlp.load(path)
    assert type(loaded) is type(m), (
        f"nn.{name} does not rebuild from its file (got {type(loaded).__name__}): declare "
        f"_save_config()")
    assert repr(loaded) == repr(m)
    a, b = m.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))


# --------------------------------------------------------------- optim --

#: optimizers with no fused kernel yet, and why
NO_FUSED_KERNEL: dict = {}


def optimizer_classes():
    return [n for n in optim.__all__ if isinstance(getattr(optim, n), type)
            and issubclass(getattr(optim, n), optim.Optimizer)
            and n not in ("Optimizer", "KernelOptimizer")]


@pytest.mark.parametrize("name", optimizer_classes())
def test_every_optimizer_declares_its_fused_kernel(name):
    cls = getattr(optim, name)
    kind = cls.__dict__.get("fused_kernel")
    if kind is None:
        assert name in NO_FUSED_KERNEL, (
            f"optim.{name} declares no fused_kernel and tests/test_completeness.py's "
            f"NO_FUSED_KERNEL gives no reason")
        return
    assert f"{kind}_update" in kernels.__all__, (
        f"optim.{name}.fused_kernel = {kind!r} but fastmlp.kernels has no {kind}_update")
    # fused_param: its own, or KernelOptimizer's built from the kernel call it declares
    kernel_recipe = issubclass(cls, optim.KernelOptimizer) and any(
        "_update" in c.__dict__ and "_hyper" in c.__dict__ for c in cls.__mro__
        if issubclass(c, optim.KernelOptimizer) and c is not optim.KernelOptimizer)
    assert "fused_param" in cls.__dict__ or kernel_recipe, (
        f"optim.{name} declares no fused_param() (nor, as a KernelOptimizer, _hyper and _update)")
    assert "check_group" in cls.__dict__, f"optim.{name} declares no check_group()"
    for state in cls.__dict__.get("state_names", ()):
        assert isinstance(state, str)
