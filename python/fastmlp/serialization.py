"""``fastmlp.save`` / ``fastmlp.load``: models and state dicts in ``.npz`` files.

The file is an ordinary NumPy ``.npz`` archive: one member per state-dict
entry, named by its key (``fc1.weight``...), so ``np.load(path)["fc1.weight"]``
works, plus one member ``__fastmlp__`` holding a JSON record: the format
version, the key order and, for a module whose every part declares how it is
rebuilt (``Module._save_config``: ``Sequential`` of ``Linear`` / ``ReLU`` /
``Flatten`` / ... ), the architecture, so :func:`load` can rebuild the model. No pickle anywhere:
loading never runs code from the file.

Writes are atomic: the archive goes to a temporary file in the destination
directory, is flushed to disk, then renamed over ``path``; on any error the
temporary file is removed and an existing ``path`` is left as it was.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ._fileio import atomic_write
from ._version import __version__
from .nn.module import Module, _to_numpy, saveable_types, saved_type_name

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_META = "__fastmlp__"
_SAVEZ_RESERVED = ("file", "allow_pickle")  # np.savez's own parameter names
_NUMERIC_KINDS = "biufc"  # the only array dtypes save writes and load accepts


def _describe(m):
    """JSON description of a rebuildable module tree, or None.

    A module is rebuildable when its class declares ``_save_config`` (see
    :meth:`fastmlp.nn.Module._save_config`) and so are all its children:
    ``{"type": name, **config}``, plus ``"layers"`` (each child's description
    with its ``"name"``) when it has children.
    """
    name = saved_type_name(type(m))
    if saveable_types().get(name) is not type(m):
        return None
    config = m._save_config()
    if config is None:
        return None
    desc = {"type": name, **config}
    if m._modules:
        layers = []
        for child_name, child in m._modules.items():
            d = None if child is None else _describe(child)
            if d is None:
                return None
            layers.append({"name": child_name, **d})
        desc["layers"] = layers
    return desc


def _build(desc):
    """The module :func:`_describe` described (its parameters freshly initialised)."""
    desc = dict(desc)
    kind = desc.pop("type")
    cls = saveable_types().get(kind)
    if cls is None:
        raise ValueError(f"unknown layer type {kind!r}")
    layers = desc.pop("layers", [])
    m = cls(**desc)
    for d in layers:
        d = dict(d)
        m.add_module(str(d.pop("name")), _build(d))
    return m


def _check_shapes(desc, sd, prefix=""):
    """ValueError unless every parameter and buffer the description declares
    (``Module._saved_shapes`` of each layer's config) is in ``sd`` with that shape: run
    before :func:`_build`, so a file whose architecture claims more than its arrays hold
    fails at once, having allocated nothing. A type that declares no shapes (None) is
    checked after it is built, by ``load_state_dict``."""
    if not isinstance(desc, Mapping):
        raise ValueError(f"bad layer description {desc!r}")
    desc = dict(desc)
    cls = saveable_types().get(desc.pop("type", None))
    if cls is None:
        return  # _build names the unknown type
    layers = desc.pop("layers", [])
    if not isinstance(layers, list):
        raise ValueError(f"bad layer list {layers!r}")
    shapes = cls._saved_shapes(desc)
    for name, shape in (shapes or {}).items():
        key = prefix + name
        if key not in sd:
            raise ValueError(f"{key} (shape {tuple(shape)}) is not in the file")
        if tuple(sd[key].shape) != tuple(shape):
            raise ValueError(f"{key}: the architecture needs shape {tuple(shape)}, the file "
                             f"holds {tuple(sd[key].shape)}")
    for d in layers:
        if not isinstance(d, Mapping):
            raise ValueError(f"bad layer description {d!r}")
        _check_shapes(d, sd, f"{prefix}{d.get('name')}.")


def _state_of(obj):
    if isinstance(obj, Module):
        top = _describe(obj)
        return obj.state_dict(), top, type(obj).__name__
    if isinstance(obj, Mapping):
        sd = OrderedDict()
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"save: state-dict keys must be strings, got {k!r}")
            sd[k] = np.asarray(_to_numpy(v))
        return sd, None, None
    raise TypeError(f"save: expected a fastmlp.nn.Module or a state dict (a mapping of name -> "
                    f"array), got {type(obj).__name__}")


def save(obj, path) -> None:
    """Save a module (its state dict, and its architecture when every part of it
    declares how it is rebuilt) or a state dict to ``path`` (exactly that name; no suffix is added).

    ``path`` may also be a writable binary file object (then the write is not atomic).
    """
    sd, arch, cls = _state_of(obj)
    keys = list(sd.keys())
    for k in keys:
        if k.startswith(_META):
            raise ValueError(f"save: the key {k!r} is reserved")
        if sd[k].dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"save: the value of {k!r} is not a numeric array (dtype "
                            f"{sd[k].dtype}; a model file holds only bool, integer, float "
                            f"or complex arrays)")
    if any(k in _SAVEZ_RESERVED for k in keys):
        members = [f"arr_{i}" for i in range(len(keys))]
    else:
        members = keys
    meta = {"format": "fastmlp", "version": FORMAT_VERSION,
            "fastmlp_version": __version__, "class": cls,
            "keys": keys, "members": members, "arch": arch}
    payload = {m: sd[k] for m, k in zip(members, keys)}
    payload[_META] = np.array(json.dumps(meta))

    if hasattr(path, "write"):
        np.savez(path, **payload)
        return
    with atomic_write(os.fspath(path)) as f:
        np.savez(f, **payload)


def _read(path):
    """(state dict, metadata) from a fastmlp file; ValueError naming the file if it is not one."""
    name = path if hasattr(path, "read") else os.fspath(path)
    label = getattr(path, "name", repr(path)) if hasattr(path, "read") else name
    try:
        with np.load(name, allow_pickle=False) as z:
            if not hasattr(z, "files") or _META not in z.files:
                raise _NotOurs("no __fastmlp__ record (not saved by fastmlp.save)")
            meta = json.loads(str(z[_META][()]))
            if not isinstance(meta, dict) or meta.get("format") != "fastmlp":
                raise _NotOurs("bad __fastmlp__ record")
            if meta.get("version") != FORMAT_VERSION:
                raise _NotOurs(f"format version {meta.get('version')!r} is not supported "
                               f"(this fastmlp reads version {FORMAT_VERSION})")
            keys, members = meta["keys"], meta["members"]
            if len(keys) != len(members):
                raise _NotOurs("inconsistent __fastmlp__ record")
            sd = OrderedDict((k, z[m]) for k, m in zip(keys, members))
            for k, v in sd.items():
                if v.dtype.kind not in _NUMERIC_KINDS:
                    raise _NotOurs(f"{k!r} is not a numeric array (dtype {v.dtype})")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except _NotOurs as e:
        raise ValueError(f"{label}: not a fastmlp model file: {e}") from None
    except Exception as e:  # noqa: BLE001 - zip, npy-header, JSON, key errors: all "corrupt"
        raise ValueError(f"{label}: not a fastmlp model file, or corrupt "
                         f"({type(e).__name__}: {e})") from e
    return sd, meta


class _NotOurs(Exception):
    pass


def load(path, model=None, strict: bool = True):
    """Load what :func:`save` wrote.

    - ``model`` given: load the state dict into it (``load_state_dict(strict=strict)``)
      and return it;
    - else, when the file records an architecture: rebuild that
      model, load the weights, return it;
    - else: return the state dict (an OrderedDict of name -> ndarray).

    Raises FileNotFoundError for a missing file and ValueError naming the
    file when it is corrupt or was not written by :func:`save`.
    """
    sd, meta = _read(path)
    if model is not None:
        model.load_state_dict(sd, strict=strict)
        return model
    arch = meta.get("arch")
    if arch is not None:
        label = path if isinstance(path, (str, bytes, os.PathLike)) else getattr(path, "name", "")
        try:
            _check_shapes(arch, sd)  # before building: a tampered size allocates nothing
            m = _build(arch)
            m.load_state_dict(sd, strict=True)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{os.fspath(label) if label else 'file'}: the recorded "
                             f"architecture does not match the saved weights: {e}") from e
        return m
    return sd
