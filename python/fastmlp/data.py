"""Data: IDX files, MNIST / Fashion-MNIST locate-or-download, normalize, DataLoader.

Pure Python + NumPy (tqdm only for the download progress bar). Nothing here
needs the compiled core.

Public API::

    read_idx(path) -> np.ndarray
    write_idx(path, array) -> None
    load_mnist(root=None, *, kind="mnist", train=True, download=True,
               progress=None) -> (images uint8 (N, 28, 28), labels int64 (N,))
    normalize(images, mean=None, std=None) -> float32 (N, rows*cols)
    DataLoader(X, y, batch_size=64, shuffle=False, drop_last=False, seed=None)
    DatasetNotFoundError  (subclass of FileNotFoundError)

Where ``load_mnist`` looks, in order (first directory holding both files of the
requested split wins; each file may be plain or ``.gz``):

1. ``root`` and ``root/<kind>`` (if ``root`` is given);
2. ``$FASTMLP_DATA`` and ``$FASTMLP_DATA/<kind>`` (if set);
3. the user cache ``$XDG_CACHE_HOME/fastmlp/<kind>`` (``~/.cache/fastmlp/<kind>``
   when ``XDG_CACHE_HOME`` is unset, empty or relative);
4. the system location of the Debian package, ``SYSTEM_DATA_DIRS[kind]``:
   ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``,
   files are gzipped). Debian has no MNIST package, so MNIST has none.

If nothing is found and ``download`` is true, the four files are fetched from
``MNIST_MIRRORS`` / ``FASHION_MNIST_MIRRORS`` (tried in order), checked against
``MNIST_MD5`` / ``FASHION_MNIST_MD5`` (torchvision's published checksums of the
``.gz`` files) and written atomically into the user cache. Otherwise
``DatasetNotFoundError`` is raised, whose message lists every place searched
and the three ways to get the data.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.request
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _args
from ._fileio import atomic_write

__all__ = [
    "read_idx",
    "write_idx",
    "load_mnist",
    "normalize",
    "DataLoader",
    "DatasetNotFoundError",
    "MNIST_MEAN",
    "MNIST_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "KINDS",
    "MNIST_MIRRORS",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MD5",
    "FASHION_MNIST_MD5",
    "SYSTEM_DATA_DIRS",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Conventional per-pixel statistics of the training sets, for pixels in [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

KINDS = ("mnist", "fashion-mnist")

#: Base URLs (ending in "/"), tried in order. The mirrors torchvision uses.
#: Tests point these at a file:// directory or a 127.0.0.1 server.
MNIST_MIRRORS: List[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
FASHION_MNIST_MIRRORS: List[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]

#: MD5 of each published .gz file, from torchvision/datasets/mnist.py
#: (classes MNIST and FashionMNIST, attribute ``resources``).
MNIST_MD5: Dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MD5: Dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: System-wide locations (Debian packages). Debian ships Fashion-MNIST as
#: ``dataset-fashion-mnist`` (gzipped files); it has no MNIST package.
SYSTEM_DATA_DIRS: Dict[str, List[str]] = {
    "mnist": [],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
}

DOWNLOAD_TIMEOUT = 30.0  # seconds, per network operation

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = _FILES[True] + _FILES[False]
_DISPLAY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


class DatasetNotFoundError(FileNotFoundError):
    """The requested dataset is in none of the searched places and could not be
    downloaded. The message lists the places searched, any download errors, and
    how to get the data. Subclass of ``FileNotFoundError`` (so of ``OSError``)."""


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

# IDX type byte -> big-endian NumPy dtype.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_IDX = {(dt.kind, dt.itemsize): code for code, dt in _IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# deflate cannot compress better than ~1032:1; bound the decompressed size of a
# gzip file by its compressed size so a corrupt header cannot make us allocate
# terabytes.
_MAX_GZIP_RATIO = 1100


def _read_exact(f, n: int) -> bytes:
    """Read up to n bytes (fewer only at EOF)."""
    parts = []
    while n > 0:
        b = f.read(n)
        if not b:
            break
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def _readinto_full(f, mv: memoryview) -> int:
    """Fill mv from f in bounded chunks; return the number of bytes read."""
    total = 0
    n = len(mv)
    while total < n:
        got = f.readinto(mv[total : min(n, total + _CHUNK)])
        if not got:
            break
        total += got
    return total


def _count_rest(f) -> int:
    total = 0
    while True:
        b = f.read(_CHUNK)
        if not b:
            return total
        total += len(b)


def _shape_str(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "() (scalar)"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a NumPy array.

    The header is big-endian: two zero bytes, a type byte (0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), an ndim byte, then ndim
    uint32 sizes. Gzip is detected by the magic bytes 1f 8b, not by the name.

    The result is a writeable, C-contiguous array in native byte order that owns
    the only buffer the data was read into (no further copies: multi-byte types
    are byte-swapped in place).

    Raises ValueError, naming the path and the problem, for an empty file, a bad
    magic, an unknown type byte, a truncated header, data shorter or longer than
    the header says, a ``.gz`` name on a file that is not gzip, or a corrupt gzip
    stream. Raises FileNotFoundError / OSError as ``open`` does.
    """
    name = os.fspath(path)
    with open(name, "rb", buffering=0) as raw:
        size = os.fstat(raw.fileno()).st_size
        if size == 0:
            raise ValueError(f"{name}: empty file")
        start = _read_exact(raw, 2)
        is_gz = start == _GZIP_MAGIC
        if not is_gz and name.endswith(".gz"):
            raise ValueError(
                f"{name}: name ends in .gz but the file is not gzip-compressed "
                f"(first bytes {start.hex()}, expected 1f8b)"
            )
        raw.seek(0)
        if is_gz:
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    return _read_idx_stream(gz, name, size * _MAX_GZIP_RATIO + 4096, True)
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                raise ValueError(f"{name}: corrupt or truncated gzip data: {e}") from None
        return _read_idx_stream(raw, name, size, False)


def _read_idx_stream(f, name: str, limit: int, is_gz: bool) -> np.ndarray:
    what = "decompressed data" if is_gz else "file"
    head = _read_exact(f, 4)
    if len(head) == 0:
        raise ValueError(f"{name}: empty {what}")
    if len(head) < 4:
        raise ValueError(f"{name}: truncated header: {what} has {len(head)} bytes, need at least 4")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{name}: not an IDX file: magic 0x{head.hex()} (expected 0x0000 then a type "
            "byte and an ndim byte, e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    code, ndim = head[2], head[3]
    if code not in _IDX_TYPES:
        raise ValueError(
            f"{name}: unknown IDX data type byte 0x{code:02x} in magic 0x{head.hex()} "
            "(known: 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64)"
        )
    dims_raw = _read_exact(f, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise ValueError(
            f"{name}: truncated header: magic says {ndim} dimensions = {4 * ndim} bytes of "
            f"sizes, {what} has {len(dims_raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    dtype = _IDX_TYPES[code]
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    desc = f"header says {_shape_str(shape)} = {nbytes} bytes of data"
    header_len = 4 + 4 * ndim

    if not is_gz:
        have = limit - header_len
        if have < nbytes:
            raise ValueError(f"{name}: truncated: {desc}, file has {have}")
        if have > nbytes:
            raise ValueError(f"{name}: {desc}, file has {have} ({have - nbytes} trailing bytes)")
    elif nbytes > limit:
        raise ValueError(f"{name}: {desc}, more than this gzip file can hold (corrupt header?)")

    buf = np.empty(nbytes, dtype=np.uint8)
    got = _readinto_full(f, memoryview(buf))
    if got < nbytes:
        raise ValueError(f"{name}: truncated: {desc}, {what} has {got}")
    extra = _count_rest(f)
    if extra:
        raise ValueError(f"{name}: {desc}, {what} has {nbytes + extra} ({extra} trailing bytes)")

    arr = buf.view(dtype).reshape(shape)
    if not dtype.isnative:
        arr.byteswap(inplace=True)  # in place: still the one buffer
    return arr.view(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends in ``.gz``.

    Supports the IDX types (uint8, int8, int16, int32, float32, float64; data is
    written big-endian) and any ndim <= 255 with sizes < 2**32. The write is
    atomic: a temp file in the same directory is written, fsynced and then
    ``os.replace``-d onto ``path``; on any error no file is left behind.
    Gzip output is reproducible (mtime 0, no embedded name).
    """
    name = os.fspath(path)
    arr = np.asarray(array)
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _DTYPE_TO_IDX:
        raise TypeError(
            f"write_idx: unsupported dtype {arr.dtype} for {name} "
            "(IDX holds uint8, int8, int16, int32, float32, float64)"
        )
    if arr.ndim > 255:
        raise ValueError(f"write_idx: {name}: ndim {arr.ndim} > 255")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: {name}: dimension >= 2**32 in shape {arr.shape}")
    code = _DTYPE_TO_IDX[key]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    data = np.ascontiguousarray(arr, dtype=_IDX_TYPES[code])

    with atomic_write(name) as f:
        if name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(header)
                gz.write(memoryview(data.reshape(-1)).cast("B"))
        else:
            f.write(header)
            f.write(memoryview(data.reshape(-1)).cast("B"))


# --------------------------------------------------------------------------
# MNIST / Fashion-MNIST
# --------------------------------------------------------------------------


def _cache_base() -> str:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return xdg
    return os.path.join(os.path.expanduser("~"), ".cache")


def _cache_dir(kind: str) -> str:
    return os.path.join(_cache_base(), "fastmlp", kind)


def _find_file(directory: str, stem: str) -> Optional[str]:
    for candidate in (stem, stem + ".gz"):
        p = os.path.join(directory, candidate)
        if os.path.isfile(p):
            return p
    return None


def _search_dirs(root, kind: str) -> List[Tuple[str, str]]:
    """(directory, why) in search order. Unset sources are listed with an empty dir."""
    out: List[Tuple[str, str]] = []
    if root is not None:
        r = os.path.expanduser(os.fspath(root))
        out.append((r, "root argument"))
        out.append((os.path.join(r, kind), "root argument"))
    env = os.environ.get("FASTMLP_DATA", "")
    if env:
        e = os.path.expanduser(env)
        out.append((e, "$FASTMLP_DATA"))
        out.append((os.path.join(e, kind), "$FASTMLP_DATA"))
    out.append((_cache_dir(kind), "user cache"))
    for s in SYSTEM_DATA_DIRS.get(kind, []):
        pkg = " (Debian package dataset-fashion-mnist)" if kind == "fashion-mnist" else ""
        out.append((s, "system location" + pkg))
    return out


def _locate(dirs: List[Tuple[str, str]], stems: Sequence[str]) -> Optional[Tuple[str, ...]]:
    for d, _ in dirs:
        found = tuple(_find_file(d, s) for s in stems)
        if all(found):
            return found  # type: ignore[return-value]
    return None


def _mirrors(kind: str) -> List[str]:
    return list(MNIST_MIRRORS if kind == "mnist" else FASHION_MNIST_MIRRORS)


def _md5s(kind: str) -> Dict[str, str]:
    return dict(MNIST_MD5 if kind == "mnist" else FASHION_MNIST_MD5)


def _download_one(url: str, dest: str, md5: str, progress: Optional[bool]) -> None:
    """Fetch url into dest atomically, verifying md5. Raises on any failure,
    leaving neither dest nor a temp file behind."""
    with atomic_write(dest) as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
        h = hashlib.md5()
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        bar = None
        if progress is not False:
            try:
                from tqdm import tqdm

                bar = tqdm(
                    total=total, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=os.path.basename(dest), disable=None if progress is None else False,
                    leave=False,
                )
            except ImportError:  # pragma: no cover - tqdm is a dependency
                bar = None
        try:
            got = 0
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                f.write(chunk)
                h.update(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and got != total:
            raise OSError(f"incomplete download: got {got} of {total} bytes")
        digest = h.hexdigest()
        if digest != md5:  # raised inside the block: the temp file is removed, dest untouched
            raise ValueError(f"MD5 mismatch: expected {md5}, got {digest}")


def _download(kind: str, progress: Optional[bool]) -> List[str]:
    """Download whichever of the four files are missing from the cache.
    Returns a list of error strings (empty on full success)."""
    cache = _cache_dir(kind)
    errors: List[str] = []
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as e:
        return [f"cannot create cache directory {cache}: {e}"]
    md5s = _md5s(kind)
    for stem in _ALL_FILES:
        if _find_file(cache, stem):
            continue
        fname = stem + ".gz"
        dest = os.path.join(cache, fname)
        file_errors = []
        for base in _mirrors(kind):
            url = base + fname
            try:
                _download_one(url, dest, md5s[fname], progress)
                break
            except (OSError, http.client.HTTPException, ValueError) as e:
                file_errors.append(f"{url}: {type(e).__name__}: {e}")
        else:
            if not file_errors:
                file_errors.append(f"{fname}: no mirrors configured")
            errors.extend(file_errors)
    return errors


def _not_found_message(kind, train, stems, dirs, download, dl_errors) -> str:
    split = "training" if train else "test"
    lines = [
        f"{_DISPLAY[kind]} {split} data not found: need "
        + " and ".join(f"{s}[.gz]" for s in stems)
        + " in one directory.",
        "Looked in, in order:",
    ]
    if not any(why == "root argument" for _, why in dirs):
        lines.append("  - root argument: not given")
    for d, why in dirs:
        if why == "user cache" and not any(w == "$FASTMLP_DATA" for _, w in dirs):
            lines.append("  - $FASTMLP_DATA: not set")
        lines.append(f"  - {d}  ({why})")
    if not SYSTEM_DATA_DIRS.get(kind):
        lines.append(f"  - system location: none (Debian has no {_DISPLAY[kind]} package)")
    if not download:
        lines.append("Download: not attempted (download=False).")
    else:
        lines.append(f"Download into {_cache_dir(kind)} failed:")
        lines.extend(f"  - {e}" for e in dl_errors)
    lines += [
        "To get the data, any one of:",
        "  1. put the four files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; plain or .gz) in a directory "
        "and pass it as root=... or set FASTMLP_DATA to it;",
        "  2. install the Debian package: apt-get install dataset-fashion-mnist "
        "(Fashion-MNIST only, into /usr/share/datasets/fashion-mnist);",
        "  3. connect to the network and call again with download=True "
        f"(files go to {_cache_dir(kind)}).",
    ]
    return "\n".join(lines)


def load_mnist(root=None, *, kind: str = "mnist", train: bool = True, download: bool = True,
               progress: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST.

    Returns ``(images, labels)``: images uint8 of shape (N, 28, 28), labels
    **int64** of shape (N,) (what ``CrossEntropyLoss`` expects). N is 60000 for
    ``train=True`` and 10000 otherwise.

    ``kind`` is ``"mnist"`` or ``"fashion-mnist"`` (ValueError otherwise). See the
    module docstring for the search order. ``download=True`` fetches missing
    files into the user cache when no location has them; ``progress`` controls
    the tqdm bar (None: only on a terminal, False: never, True: always).

    Raises DatasetNotFoundError (a FileNotFoundError) when the data is nowhere
    and cannot be downloaded; ValueError for a corrupt or inconsistent file.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    train = bool(train)
    stems = _FILES[train]
    dirs = _search_dirs(root, kind)
    found = _locate(dirs, stems)
    dl_errors: List[str] = []
    if found is None and download:
        dl_errors = _download(kind, progress)
        found = _locate([(_cache_dir(kind), "user cache")], stems)
    if found is None:
        raise DatasetNotFoundError(_not_found_message(kind, train, stems, dirs, download, dl_errors))

    img_path, lbl_path = found
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{img_path}: expected uint8 images of shape (N, rows, cols), got {images.dtype} "
            f"{_shape_str(images.shape)}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{lbl_path}: expected a uint8 label vector, got {labels.dtype} {_shape_str(labels.shape)}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{img_path} has {images.shape[0]} images but {lbl_path} has {labels.shape[0]} labels"
        )
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------
# Preprocessing and batching
# --------------------------------------------------------------------------


def _normalization(mean, std):
    """``(mean, std)`` of :func:`normalize` (and ``train_epoch(normalize=...)``) checked, each
    None or a float: real numbers (TypeError naming them otherwise) whose float32 values,
    which the batches are computed with, are finite, and for ``std`` > 0 and normal (a
    float64 std such as 1e-50 is 0 in float32, and a subnormal one is flushed to zero by the
    kernels: the inputs would become inf); ValueError otherwise."""
    out = []
    for name, v in (("mean", mean), ("std", std)):
        if v is not None:
            try:
                v = _args.real(v, name)
            except TypeError:
                raise TypeError(f"normalize: {name} must be a real number or None, got "
                                f"{v!r}") from None
            with np.errstate(over="ignore"):
                v32 = abs(np.float32(v))
            if not np.isfinite(v32):
                raise ValueError(f"normalize: {name} must be finite in float32, got {v}")
        out.append(v)
    if std is not None and not (out[1] > 0 and v32 >= np.finfo(np.float32).tiny):
        raise ValueError(f"normalize: std must be > 0, got {std}" + (
            "" if not out[1] > 0 else " (0 or subnormal in float32: it must be a normal "
            "float32, >= 1.1754944e-38)"))
    return tuple(out)


def normalize(images, mean: Optional[float] = None, std: Optional[float] = None) -> np.ndarray:
    """uint8 images (N, ...) -> float32 (N, prod(...)) in [0, 1] (x / 255, as
    torchvision's ToTensor), then ``(x - mean) / std`` if given (scalars; a
    missing one means 0 / 1). E.g. ``normalize(x, MNIST_MEAN, MNIST_STD)``.
    Always returns a new C-contiguous array."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise TypeError(f"normalize: images must be uint8, got {x.dtype}")
    if x.ndim < 1:
        raise ValueError("normalize: images must have a leading batch dimension")
    mean, std = _normalization(mean, std)
    n = x.shape[0]
    d = int(np.prod(x.shape[1:], dtype=np.int64))
    out = x.reshape(n, d).astype(np.float32)
    np.divide(out, np.float32(255), out=out)
    if mean is not None:
        np.subtract(out, np.float32(mean), out=out)
    if std is not None:
        np.divide(out, np.float32(std), out=out)
    return out


class DataLoader:
    """Iterate ``(inputs, labels)`` NumPy mini-batches over ``X`` and ``y``.

    ``len(loader)`` is the number of batches. With ``shuffle=True`` every
    ``iter()`` (epoch) draws a new permutation from a ``np.random.default_rng(seed)``
    owned by the loader, so the sequence of epochs is reproducible from ``seed``;
    shuffled batches are fresh contiguous arrays ``X[idx]``, ``y[idx]``. Without
    shuffling the order is the identity and batches are contiguous slices of X
    and y (views when X and y are C-contiguous; don't modify them in place).
    ``drop_last`` drops a final short batch.

    In-process only: no worker processes. The OpenMP runtime behind the kernels
    is not fork-safe, so never fork after using them.
    """

    def __init__(self, X, y, batch_size: int = 64, shuffle: bool = False, drop_last: bool = False,
                 seed=None):
        X = np.asarray(X)
        y = np.asarray(y)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if X.ndim < 1:
            raise ValueError("X must have a leading sample dimension")
        if y.ndim < 1:
            raise ValueError("y must have a leading sample dimension")
        if len(X) != len(y):
            raise ValueError(f"len(X) != len(y): X has {len(X)} samples, y has {len(y)}")
        self.X = X
        self.y = y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n, b = len(self.X), self.batch_size
        stop = len(self) * b
        if self.shuffle:
            perm = self._rng.permutation(n)  # drawn now: one per epoch
            return self._shuffled(perm, n, b, stop)
        return self._ordered(n, b, stop)

    def _shuffled(self, perm, n, b, stop):
        X, y = self.X, self.y
        for s in range(0, stop, b):
            idx = perm[s : min(s + b, n)]
            yield np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])

    def _ordered(self, n, b, stop):
        X, y = self.X, self.y
        for s in range(0, stop, b):
            e = min(s + b, n)
            yield np.ascontiguousarray(X[s:e]), np.ascontiguousarray(y[s:e])

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.X)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed!r})"
        )
