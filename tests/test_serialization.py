"""fastmlp.save / fastmlp.load: round trips, architecture rebuild, atomic writes, bad files."""
import io
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from fastmlp import nn
from fastmlp.serialization import load, save
from helpers import seed_net


def seq():
    return seed_net(sizes=(12, 7, 3), bias=(True, False))


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])


def test_sequential_round_trip_rebuilds_the_model(tmp_path, rng):
    model = seq()
    path = tmp_path / "model.npz"
    save(model, path)
    loaded = load(path)
    assert isinstance(loaded, nn.Sequential) and repr(loaded) == repr(model)
    assert_same_state(model, loaded)
    x = rng.standard_normal((4, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
    # an ordinary npz: readable with NumPy alone, without pickle
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["1.weight"], model[1].weight.data)


def test_nested_and_named_sequential(tmp_path):
    model = nn.Sequential(OrderedDict(
        body=nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True)),
        flat=nn.Flatten(0, -1),
        head=nn.Linear(4, 2),
    ))
    save(model, tmp_path / "m")  # no suffix is added
    assert os.listdir(tmp_path) == ["m"]
    loaded = load(tmp_path / "m")
    assert repr(loaded) == repr(model)
    assert_same_state(model, loaded)


def test_custom_model_gives_state_dict_or_loads_into_a_model(tmp_path):
    model = seed_net("script", (12, 7, 3))
    path = str(tmp_path / "net.npz")
    save(model, path)
    sd = load(path)
    assert isinstance(sd, OrderedDict) and list(sd) == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                       "fc2.bias"]
    other = seed_net("script", (12, 7, 3))
    assert load(path, model=other) is other
    assert_same_state(model, other)
    bad = seed_net("script", (12, 7, 3))
    bad.fc2 = nn.Linear(7, 4)
    with pytest.raises(RuntimeError, match="size mismatch for fc2.weight"):
        load(path, model=bad)
    with pytest.raises(RuntimeError, match='Missing key.*"0.weight"'):
        load(path, model=nn.Sequential(nn.Linear(12, 7)))


def test_state_dict_and_file_objects(tmp_path):
    sd = OrderedDict(a=np.arange(3, dtype=np.float32), file=np.ones((2, 2)))  # 'file': np.savez's
    buf = io.BytesIO()
    save(sd, buf)
    buf.seek(0)
    got = load(buf)
    assert list(got) == ["a", "file"]
    np.testing.assert_array_equal(got["file"], sd["file"])
    with pytest.raises(TypeError):
        save(object(), tmp_path / "x")


def _listing(d):
    return sorted(os.listdir(d))


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save(seq(), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="simulated"):
        save(seq(), path)
    assert _listing(tmp_path) == ["model.npz"]  # no temp file left
    assert path.read_bytes() == before  # the old file is intact
    with pytest.raises(OSError, match="simulated"):
        save(seq(), tmp_path / "new.npz")
    assert _listing(tmp_path) == ["model.npz"]  # nothing created


def test_save_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    """A failure after part of the archive is written (interrupt in the middle)."""
    real = np.savez

    def half(f, **arrays):
        f.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half)
    with pytest.raises(KeyboardInterrupt):
        save(seq(), tmp_path / "m.npz")
    assert _listing(tmp_path) == []
    monkeypatch.setattr(np, "savez", real)


def test_corrupt_and_foreign_files_raise_valueerror_naming_the_file(tmp_path):
    good = tmp_path / "good.npz"
    save(seq(), good)
    data = good.read_bytes()
    cases = {
        "garbage.npz": b"this is not a model",
        "truncated.npz": data[: len(data) // 2],
        "empty.npz": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    np.savez(tmp_path / "plain.npz", w=np.ones(3))  # an npz, but not ours
    np.save(tmp_path / "array.npy", np.ones(3))
    flipped = bytearray(data)
    i = data.index(b"1.weight.npy") + 200  # inside the member's data: CRC mismatch
    flipped[i] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    for name in list(cases) + ["plain.npz", "array.npy", "flipped.npz"]:
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_wrong_format_version_is_rejected(tmp_path):
    import json

    path = tmp_path / "v.npz"
    save(seq(), path)
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(str(members["__fastmlp__"]))
    meta["version"] = 99
    members["__fastmlp__"] = np.array(json.dumps(meta))
    np.savez(path, **members)
    with pytest.raises(ValueError, match="version 99"):
        load(path)
    assert zipfile.is_zipfile(path)
