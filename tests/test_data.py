"""Tests for fastmlp.data: IDX I/O, dataset search/download, normalize, DataLoader.

No test touches the network or the real user cache: HOME, XDG_CACHE_HOME and
FASTMLP_DATA are redirected to tmp dirs, mirrors point at file:// or 127.0.0.1.
"""

import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from fastmlp import data
from fastmlp.data import DataLoader, DatasetNotFoundError, load_mnist, normalize, read_idx, write_idx

STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"
DEFAULT_SYSTEM_DIRS = {k: list(v) for k, v in data.SYSTEM_DATA_DIRS.items()}  # before any monkeypatch


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Never see the real cache, env or system data; never touch the network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setattr(data, "SYSTEM_DATA_DIRS", {"mnist": [], "fashion-mnist": [str(tmp_path / "system")]})
    nowhere = (tmp_path / "no-mirror").as_uri() + "/"
    monkeypatch.setattr(data, "MNIST_MIRRORS", [nowhere])
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", [nowhere])
    return tmp_path


def fake_split(n, seed, rows=28, cols=28):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8),
        rng.integers(0, 10, size=n, dtype=np.uint8),
    )


def make_dataset(directory, tag=0, gz=False, n_train=7, n_test=3):
    """Write the four files into directory; return {stem: array}. `tag` makes
    datasets in different places distinguishable (it is every label's value)."""
    os.makedirs(directory, exist_ok=True)
    tri, _ = fake_split(n_train, 100 + tag)
    tei, _ = fake_split(n_test, 200 + tag)
    arrays = {
        STEMS[0]: tri,
        STEMS[1]: np.full(n_train, tag, np.uint8),
        STEMS[2]: tei,
        STEMS[3]: np.full(n_test, tag, np.uint8),
    }
    for stem, a in arrays.items():
        write_idx(os.path.join(directory, stem + (".gz" if gz else "")), a)
    return arrays


def idx_bytes(a):
    a = np.asarray(a)
    code = {np.dtype(np.uint8): 8}[a.dtype]
    return bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + a.tobytes()


def leftovers(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# ---------------------------------------------------------------- IDX round trips


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(0,), (1,), (17,), (0, 28, 28), (1, 28, 28), (5, 3, 4), (2, 3, 4, 5), (3, 1, 1, 1, 2)])
def test_idx_roundtrip_uint8(tmp_path, gz, shape):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    a = np.random.default_rng(sum(shape) + gz).integers(0, 256, size=shape, dtype=np.uint8)
    p = tmp_path / ("x.idx" + (".gz" if gz else ""))
    write_idx(p, a)
    with open(p, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == gz
    b = read_idx(p)
    assert b.dtype == np.uint8 and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable and b.flags.c_contiguous
    assert leftovers(tmp_path) == [p.name]  # no temp file left behind


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip_other_types(tmp_path, dtype, gz):
    a = (np.random.default_rng(1).standard_normal((4, 3)) * 100).astype(dtype)
    p = tmp_path / ("x" + (".gz" if gz else ""))
    write_idx(str(p), a)
    b = read_idx(str(p))
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_standard_big_endian(tmp_path):
    p = tmp_path / "imgs"
    write_idx(p, np.zeros((60000 // 1000, 28, 28), np.uint8))
    head = p.read_bytes()[:16]
    assert head == bytes.fromhex("00000803" "0000003c" "0000001c" "0000001c")
    write_idx(tmp_path / "lbl", np.arange(3, dtype=np.uint8))
    assert (tmp_path / "lbl").read_bytes() == bytes.fromhex("00000801 00000003 000102")


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    p = tmp_path / "labels-no-suffix"
    p.write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(read_idx(p), a)


def test_write_idx_replaces_atomically_and_rejects_bad_dtype(tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    p = tmp_path / "f"
    write_idx(p, np.ones(3, np.uint8))
    write_idx(p, np.zeros(5, np.uint8))
    np.testing.assert_array_equal(read_idx(p), np.zeros(5, np.uint8))
    with pytest.raises(TypeError):
        write_idx(p, np.zeros(3, np.uint64))
    np.testing.assert_array_equal(read_idx(p), np.zeros(5, np.uint8))  # untouched
    assert leftovers(tmp_path) == ["f"]


# ---------------------------------------------------------------- corrupt files

GOOD = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))

CORRUPT = {
    "empty": (b"", "empty"),
    "short-data": (GOOD[:-5], "truncated: header says 2x3x4 = 24 bytes of data, file has 19"),
    "long-data": (GOOD + b"xyz", "file has 27 (3 trailing bytes)"),
    "short-header": (GOOD[:9], "truncated header"),
    "short-magic": (b"\x00\x00", "truncated header"),
    "wrong-magic": (b"\x12\x34" + GOOD[2:], "not an IDX file"),
    "bad-dtype": (b"\x00\x00\x07\x03" + GOOD[4:], "unknown IDX data type byte 0x07"),
    "text": (b"<html>404 not found</html>", "not an IDX file"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_files_raise_valueerror_naming_file(tmp_path, case, gz):
    content, expected = CORRUPT[case]
    name = f"train-images-idx3-ubyte-{case}"
    if gz:
        if case == "empty":
            content = gzip.compress(b"")
            expected = "empty decompressed data"
        else:
            content = gzip.compress(content)
            expected = expected.replace("file has", "decompressed data has")
        name += ".gz"
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValueError) as ei:
        read_idx(p)
    msg = str(ei.value)
    assert str(p) in msg
    assert expected in msg


def test_not_gzip_despite_gz_name(tmp_path):
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(GOOD)
    with pytest.raises(ValueError, match="not gzip-compressed") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


@pytest.mark.parametrize("cut", [10, 25, -4])
def test_truncated_gzip_stream(tmp_path, cut):
    big = idx_bytes(np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    p = tmp_path / "imgs.gz"
    p.write_bytes(gzip.compress(big)[:cut])
    with pytest.raises(ValueError) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_corrupt_gzip_body(tmp_path):
    z = bytearray(gzip.compress(GOOD * 50))
    z[20:30] = b"\xff" * 10
    p = tmp_path / "bad.gz"
    p.write_bytes(bytes(z))
    with pytest.raises(ValueError) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_gzip_header_claiming_huge_size_does_not_allocate(tmp_path):
    p = tmp_path / "huge.gz"
    p.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + np.array([2**31, 2**16, 2**16], ">u4").tobytes()))
    with pytest.raises(ValueError, match="more than this gzip file can hold") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_missing_file_is_filenotfound(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# ---------------------------------------------------------------- search order


def test_load_from_root_plain_and_gz(tmp_path):
    for gz in (False, True):
        d = tmp_path / f"root{gz}"
        arrays = make_dataset(d, tag=3, gz=gz)
        x, y = load_mnist(d, download=False)
        np.testing.assert_array_equal(x, arrays[STEMS[0]])
        assert x.dtype == np.uint8 and x.shape == (7, 28, 28)
        assert y.dtype == np.int64 and y.shape == (7,) and (y == 3).all()
        x, y = load_mnist(str(d), train=False, download=False)
        np.testing.assert_array_equal(x, arrays[STEMS[2]])
        assert y.shape == (3,)


def test_search_order(isolated_env, monkeypatch):
    tmp = isolated_env
    root, env, cache, system = tmp / "root", tmp / "env", tmp / "xdg-cache/fastmlp/fashion-mnist", tmp / "system"
    make_dataset(system, tag=4, gz=True)
    assert (load_mnist(kind="fashion-mnist", download=False)[1] == 4).all()
    make_dataset(cache, tag=3)
    assert (load_mnist(kind="fashion-mnist", download=False)[1] == 3).all()
    make_dataset(env / "fashion-mnist", tag=2)  # $FASTMLP_DATA/<kind>
    monkeypatch.setenv("FASTMLP_DATA", str(env))
    assert (load_mnist(kind="fashion-mnist", download=False)[1] == 2).all()
    make_dataset(env, tag=5)  # $FASTMLP_DATA itself beats $FASTMLP_DATA/<kind>
    assert (load_mnist(kind="fashion-mnist", download=False)[1] == 5).all()
    make_dataset(root, tag=1)
    assert (load_mnist(root, kind="fashion-mnist", download=False)[1] == 1).all()
    # an empty root falls through to the next places
    (tmp / "empty").mkdir()
    assert (load_mnist(tmp / "empty", kind="fashion-mnist", download=False)[1] == 5).all()
    # the system location is only for fashion-mnist
    monkeypatch.delenv("FASTMLP_DATA")
    with pytest.raises(DatasetNotFoundError):
        load_mnist(tmp / "empty", kind="mnist", download=False)


def test_root_kind_subdirectory(tmp_path):
    make_dataset(tmp_path / "data" / "mnist", tag=6)
    make_dataset(tmp_path / "data" / "fashion-mnist", tag=7)
    assert (load_mnist(tmp_path / "data", download=False)[1] == 6).all()
    assert (load_mnist(tmp_path / "data", kind="fashion-mnist", download=False)[1] == 7).all()


def test_cache_honours_xdg_and_falls_back_to_home(isolated_env, monkeypatch):
    tmp = isolated_env
    make_dataset(tmp / "home/.cache/fastmlp/mnist", tag=8)
    with pytest.raises(DatasetNotFoundError):
        load_mnist(download=False)  # XDG_CACHE_HOME points elsewhere
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert (load_mnist(download=False)[1] == 8).all()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # XDG spec: ignore relative
    assert (load_mnist(download=False)[1] == 8).all()


def test_split_needs_both_files_in_one_place(isolated_env):
    tmp = isolated_env
    d = tmp / "half"
    make_dataset(d)
    os.remove(d / STEMS[1])  # train labels gone: train must not come from here
    with pytest.raises(DatasetNotFoundError):
        load_mnist(d, download=False)
    assert load_mnist(d, train=False, download=False)[0].shape == (3, 28, 28)


def test_bad_kind():
    with pytest.raises(ValueError, match="kind"):
        load_mnist(kind="cifar10")


def test_inconsistent_files_raise_valueerror(tmp_path):
    d = tmp_path / "d"
    make_dataset(d)
    write_idx(d / STEMS[1], np.zeros(6, np.uint8))  # 7 images, 6 labels
    with pytest.raises(ValueError, match="6 labels"):
        load_mnist(d, download=False)
    write_idx(d / STEMS[1], np.zeros((7, 1), np.uint8))
    with pytest.raises(ValueError, match=STEMS[1]):
        load_mnist(d, download=False)


def test_not_found_message_lists_everything(isolated_env, monkeypatch):
    tmp = isolated_env
    monkeypatch.setenv("FASTMLP_DATA", str(tmp / "envdir"))
    with pytest.raises(DatasetNotFoundError) as ei:
        load_mnist(tmp / "rootdir", kind="fashion-mnist", download=False)
    assert isinstance(ei.value, FileNotFoundError)
    msg = str(ei.value)
    for place in [
        tmp / "rootdir",
        tmp / "rootdir" / "fashion-mnist",
        tmp / "envdir",
        tmp / "envdir" / "fashion-mnist",
        tmp / "xdg-cache" / "fastmlp" / "fashion-mnist",
        tmp / "system",
    ]:
        assert str(place) in msg
    assert "download=False" in msg
    assert "root=" in msg and "FASTMLP_DATA" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "network" in msg
    # order: root, env, cache, system
    cache = tmp / "xdg-cache" / "fastmlp" / "fashion-mnist"
    idx = [msg.index(str(p) + "  (") for p in (tmp / "rootdir", tmp / "envdir", cache, tmp / "system")]
    assert idx == sorted(idx)


def test_not_found_message_without_root_or_env():
    with pytest.raises(DatasetNotFoundError) as ei:
        load_mnist(download=False)
    msg = str(ei.value)
    assert "root argument: not given" in msg
    assert "$FASTMLP_DATA: not set" in msg
    assert "no MNIST package" in msg


# ---------------------------------------------------------------- download


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local mirror directory with the four .gz files and matching MD5s."""
    src = tmp_path / "mirror"
    arrays = make_dataset(src, tag=9, gz=True, n_train=11, n_test=5)
    md5 = {s + ".gz": hashlib.md5((src / (s + ".gz")).read_bytes()).hexdigest() for s in STEMS}
    monkeypatch.setattr(data, "MNIST_MD5", md5)
    monkeypatch.setattr(data, "FASHION_MNIST_MD5", dict(md5))
    return src, arrays


@pytest.fixture
def http_mirror(mirror):
    """Serve the mirror directory on 127.0.0.1; yields (base_url, src, arrays, log)."""
    src, arrays = mirror
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(src), **k)

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/short/"):  # announce more than we send
                body = (src / self.path[len("/short/"):]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            log.append(self.path)
            super().do_GET()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/", src, arrays, log
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def cache_of(tmp, kind="mnist"):
    return tmp / "xdg-cache" / "fastmlp" / kind


def download_error(monkeypatch, mirror, **kw):
    """The message of the DatasetNotFoundError that load_mnist(progress=False, **kw) raises
    with this one MNIST mirror."""
    monkeypatch.setattr(data, "MNIST_MIRRORS", [mirror])
    with pytest.raises(DatasetNotFoundError) as ei:
        load_mnist(progress=False, **kw)
    return str(ei.value)


def test_download_from_file_url(isolated_env, mirror, monkeypatch):
    src, arrays = mirror
    monkeypatch.setattr(data, "MNIST_MIRRORS", [src.as_uri() + "/"])
    x, y = load_mnist(progress=False)
    np.testing.assert_array_equal(x, arrays[STEMS[0]])
    assert (y == 9).all() and y.dtype == np.int64
    assert leftovers(cache_of(isolated_env)) == sorted(s + ".gz" for s in STEMS)
    # the test split is now in the cache: no mirror needed
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])
    assert load_mnist(train=False)[0].shape == (5, 28, 28)


def test_download_from_local_http_with_fallback(isolated_env, http_mirror, monkeypatch):
    base, src, arrays, log = http_mirror
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", [base + "missing/", base])
    x, y = load_mnist(kind="fashion-mnist", train=False, progress=True)
    np.testing.assert_array_equal(x, arrays[STEMS[2]])
    assert sorted(p for p in log if not p.startswith("/missing/")) == sorted("/" + s + ".gz" for s in STEMS)
    assert leftovers(cache_of(isolated_env, "fashion-mnist")) == sorted(s + ".gz" for s in STEMS)


def test_download_only_missing_files(isolated_env, http_mirror, monkeypatch):
    base, src, arrays, log = http_mirror
    cache = cache_of(isolated_env)
    cache.mkdir(parents=True)
    (cache / STEMS[0]).write_bytes((src / (STEMS[0] + ".gz")).read_bytes())  # train images, plain name
    monkeypatch.setattr(data, "MNIST_MIRRORS", [base])
    load_mnist(progress=False)
    assert sorted(log) == sorted("/" + s + ".gz" for s in STEMS[1:])


def test_checksum_mismatch_leaves_nothing(isolated_env, http_mirror, monkeypatch):
    base, src, arrays, log = http_mirror
    bad = dict(data.MNIST_MD5)
    bad["train-labels-idx1-ubyte.gz"] = "0" * 32
    monkeypatch.setattr(data, "MNIST_MD5", bad)
    msg = download_error(monkeypatch, base)
    assert "MD5 mismatch" in msg and "0" * 32 in msg
    files = leftovers(cache_of(isolated_env))
    assert "train-labels-idx1-ubyte.gz" not in files
    assert not [f for f in files if f.startswith(".") or f.endswith(".tmp")]
    # the other files verified fine and were kept
    assert files == sorted(s + ".gz" for s in STEMS if s != "train-labels-idx1-ubyte")
    # but the test split is complete and loads
    assert load_mnist(train=False, download=False)[1].shape == (5,)


def test_interrupted_download_leaves_nothing(isolated_env, http_mirror, monkeypatch):
    base, src, arrays, log = http_mirror
    assert "short/train-images-idx3-ubyte.gz" in download_error(monkeypatch, base + "short/")
    assert leftovers(cache_of(isolated_env)) == []


def test_missing_file_on_mirror(isolated_env, mirror, monkeypatch):
    src, arrays = mirror
    os.remove(src / "t10k-images-idx3-ubyte.gz")
    msg = download_error(monkeypatch, src.as_uri() + "/", train=False)
    assert "t10k-images-idx3-ubyte.gz" in msg
    assert "t10k-images-idx3-ubyte.gz" not in leftovers(cache_of(isolated_env))
    assert load_mnist(train=True, download=False)[0].shape == (11, 28, 28)


def test_missing_file_on_http_mirror(isolated_env, http_mirror, monkeypatch):
    base, src, arrays, log = http_mirror
    assert "404" in download_error(monkeypatch, base + "nothing-here/")
    assert leftovers(cache_of(isolated_env)) == []


def test_offline_message(isolated_env, monkeypatch):
    # a closed port on 127.0.0.1 stands in for "no network"
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    msg = download_error(monkeypatch, f"http://127.0.0.1:{port}/")
    assert f"127.0.0.1:{port}" in msg and "failed" in msg
    assert str(cache_of(isolated_env)) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert [f for f in leftovers(cache_of(isolated_env)) if f.endswith(".tmp")] == []


def test_download_false_does_not_download(isolated_env, mirror, monkeypatch):
    src, arrays = mirror
    monkeypatch.setattr(data, "MNIST_MIRRORS", [src.as_uri() + "/"])
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_mnist(download=False)
    assert leftovers(cache_of(isolated_env)) == []


def test_published_checksums_are_present():
    for table in (data.MNIST_MD5, data.FASHION_MNIST_MD5):
        assert sorted(table) == sorted(s + ".gz" for s in STEMS)
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in table.values())
    assert data.MNIST_MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.FASHION_MNIST_MD5["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


# ---------------------------------------------------------------- normalize


def test_normalize_range_and_shape():
    x = np.array([[[0, 255], [51, 128]], [[255, 255], [0, 0]]], np.uint8)
    out = normalize(x)
    assert out.dtype == np.float32 and out.shape == (2, 4) and out.flags.c_contiguous
    np.testing.assert_array_equal(out[0], np.array([0, 255, 51, 128], np.float32) / np.float32(255))
    assert out.min() == 0.0 and out.max() == 1.0


def test_normalize_mean_std_and_constants():
    x = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    out = normalize(x, data.MNIST_MEAN, data.MNIST_STD)
    assert out.shape == (10, 784) and out.dtype == np.float32
    ref = (x.reshape(10, 784).astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    assert (data.MNIST_MEAN, data.MNIST_STD) == (0.1307, 0.3081)
    assert (data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD) == (0.2860, 0.3530)
    assert normalize(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)


def test_normalize_validates():
    with pytest.raises(TypeError):
        normalize(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError):
        normalize(np.zeros((2, 3), np.uint8), 0.5, 0.0)


# ---------------------------------------------------------------- DataLoader


def epoch(loader):
    xs, ys = zip(*loader) if len(loader) else ((), ())
    return list(xs), list(ys)


@pytest.mark.parametrize("n,bs", [(10, 3), (9, 3), (1, 5), (64, 64), (100, 7)])
def test_loader_covers_permutation_each_epoch(n, bs):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    dl = DataLoader(X, y, batch_size=bs, shuffle=True, seed=0)
    assert len(dl) == -(-n // bs)
    orders = []
    for _ in range(3):
        xs, ys = epoch(dl)
        assert len(xs) == len(dl)
        assert all(len(b) == bs for b in ys[:-1]) and 1 <= len(ys[-1]) <= bs
        order = np.concatenate(ys)
        assert sorted(order.tolist()) == list(range(n))  # each sample exactly once
        for xb, yb in zip(xs, ys):
            assert xb.flags.c_contiguous and yb.flags.c_contiguous
            np.testing.assert_array_equal(xb, X[yb])  # inputs and labels stay paired
        orders.append(order)
    if n >= 9:
        assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch


def test_loader_drop_last():
    X, y = np.zeros((10, 1)), np.arange(10)
    dl = DataLoader(X, y, batch_size=3, drop_last=True, shuffle=True, seed=1)
    assert len(dl) == 3
    xs, ys = epoch(dl)
    assert [len(b) for b in ys] == [3, 3, 3] and len(set(np.concatenate(ys).tolist())) == 9
    assert len(DataLoader(X, y, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(X, y, batch_size=11, drop_last=True)) == []
    assert len(DataLoader(X, y, batch_size=10, drop_last=True)) == 1


def test_loader_reproducible_by_seed():
    X, y = np.arange(50).reshape(50, 1), np.arange(50)
    a = DataLoader(X, y, batch_size=8, shuffle=True, seed=123)
    b = DataLoader(X, y, batch_size=8, shuffle=True, seed=123)
    c = DataLoader(X, y, batch_size=8, shuffle=True, seed=124)
    ea = [np.concatenate(epoch(a)[1]) for _ in range(3)]
    eb = [np.concatenate(epoch(b)[1]) for _ in range(3)]
    ec = [np.concatenate(epoch(c)[1]) for _ in range(3)]
    for u, v in zip(ea, eb):
        np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(u, w) for u, w in zip(ea, ec))


def test_loader_unshuffled_is_identity():
    X = np.random.default_rng(0).standard_normal((23, 4)).astype(np.float32)
    y = np.arange(23, dtype=np.int64)
    dl = DataLoader(X, y, batch_size=5)
    for _ in range(2):
        xs, ys = epoch(dl)
        np.testing.assert_array_equal(np.concatenate(ys), y)
        np.testing.assert_array_equal(np.concatenate(xs), X)
        assert [len(b) for b in ys] == [5, 5, 5, 5, 3]


def test_loader_empty_dataset():
    dl = DataLoader(np.zeros((0, 3)), np.zeros(0), batch_size=4, shuffle=True, seed=0)
    assert len(dl) == 0 and list(dl) == []


def test_loader_validates():
    X, y = np.zeros((4, 2)), np.zeros(4)
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(X, y, batch_size=bad)
    with pytest.raises(ValueError, match="len"):
        DataLoader(X, np.zeros(3))


def test_loader_with_mnist_shaped_data(tmp_path):
    make_dataset(tmp_path / "d", n_train=130)
    x, y = load_mnist(tmp_path / "d", download=False)
    dl = DataLoader(normalize(x), y, batch_size=64, shuffle=True, seed=0)
    shapes = [(xb.shape, yb.dtype) for xb, yb in dl]
    assert shapes == [((64, 784), np.int64), ((64, 784), np.int64), ((2, 784), np.int64)]


# ---------------------------------------------------------------- real data (Debian package)


def test_real_fashion_mnist_from_debian_package(monkeypatch):
    files = [os.path.join(DEBIAN_FASHION, s + ".gz") for s in STEMS]
    if not all(os.path.isfile(f) for f in files):
        pytest.skip("Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)")
    # the package's real location is what the module looks in by default
    assert DEFAULT_SYSTEM_DIRS == {"mnist": [], "fashion-mnist": [DEBIAN_FASHION]}
    monkeypatch.setattr(data, "SYSTEM_DATA_DIRS", DEFAULT_SYSTEM_DIRS)
    for train, n in ((True, 60000), (False, 10000)):
        x, y = load_mnist(kind="fashion-mnist", train=train, download=False)
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.int64
        assert y.min() == 0 and y.max() == 9
        assert (np.bincount(y, minlength=10) > 0).all()
        assert x.max() == 255 and x.min() == 0
