"""python/fastmlp/_core.pyi describes exactly what the compiled _core exposes.

Every public name of _core has a stub entry and every stub entry exists; each
stub function has the binding's parameter names, in order, with the same
keyword-only marker and the same parameters having defaults. The binding's
signature is pybind11's first docstring line, e.g.
``sgemm(a: object, b: object, c: object = None, ...) -> numpy.ndarray``.
"""
import ast
import pathlib

import pytest

from fastmlp import _core

STUB = pathlib.Path(_core.__file__).with_name("_core.pyi")
if not STUB.exists():  # a build tree without the stub beside the .so
    STUB = pathlib.Path(__file__).resolve().parents[1] / "python" / "fastmlp" / "_core.pyi"


def stub_entries():
    """{public name: ast node} of the stub's module level (defs and annotated names)."""
    tree = ast.parse(STUB.read_text(), filename=str(STUB))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return {k: v for k, v in out.items() if not k.startswith("_")}


def split_top_level(s):
    """Split s at commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def binding_params(name, func):
    """[(param name or '*', has default)] from pybind11's signature line."""
    line = (func.__doc__ or "").splitlines()[0] if func.__doc__ else ""
    assert line.startswith(name + "("), f"_core.{name}: no pybind11 signature line in __doc__: {line!r}"
    depth, end = 0, None
    for i, ch in enumerate(line[len(name):], start=len(name)):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            end = i
            break
    params = []
    for p in split_top_level(line[len(name) + 1:end]):
        if p == "*":
            params.append(("*", False))
            continue
        pname = p.split(":")[0].split("=")[0].strip()
        params.append((pname, "=" in p))
    return params


def stub_params(node):
    a = node.args
    n_plain = len(a.posonlyargs) + len(a.args)
    first_default = n_plain - len(a.defaults)
    out = [(arg.arg, i >= first_default) for i, arg in enumerate(a.posonlyargs + a.args)]
    if a.kwonlyargs:
        out.append(("*", False))
        out += [(arg.arg, d is not None) for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    return out


def test_every_core_name_has_a_stub_entry_and_vice_versa():
    public = {n for n in dir(_core) if not n.startswith("_")}
    stubbed = set(stub_entries())
    problems = []
    missing = sorted(public - stubbed)
    extra = sorted(stubbed - public)
    if missing:
        problems.append(f"{STUB.name} lacks entries for _core.{', _core.'.join(missing)}")
    if extra:
        problems.append(f"{STUB.name} has entries that _core does not expose: {', '.join(extra)}")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("name", sorted(n for n in dir(_core) if not n.startswith("_")
                                        and callable(getattr(_core, n))))
def test_stub_parameters_match_the_binding(name):
    node = stub_entries().get(name)
    assert isinstance(node, ast.FunctionDef), f"{STUB.name}: _core.{name} is not stubbed as a def"
    ours, theirs = stub_params(node), binding_params(name, getattr(_core, name))
    diffs = []
    for i in range(max(len(ours), len(theirs))):
        o = ours[i] if i < len(ours) else None
        t = theirs[i] if i < len(theirs) else None
        if o != t:
            show = lambda p: "nothing" if p is None else repr(p[0]) + (" (with a default)" if p[1] else "")
            diffs.append(f"parameter {i}: stub has {show(o)}, binding has {show(t)}")
    assert not diffs, f"{STUB.name}: _core.{name}: " + "; ".join(diffs)
    assert ast.get_docstring(node), f"{STUB.name}: _core.{name} has no docstring"


def test_py_typed_marker_ships_beside_the_stub():
    assert (STUB.parent / "py.typed").exists(), f"no py.typed beside {STUB}"
