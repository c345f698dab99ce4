"""Atomic file writes: a temp file beside the target, renamed onto it only when complete."""
from __future__ import annotations

import contextlib
import os
import secrets

__all__ = ["atomic_write"]


def _tmp_beside(final: str):
    """Open a new temp file beside ``final`` (mode 0666 & ~umask); return (fd, path)."""
    d, base = os.path.split(os.path.abspath(final))
    while True:
        tmp = os.path.join(d, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return fd, tmp


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f:`` yields a binary file opened on a new temp file in
    ``path``'s directory. When the block ends normally the file is flushed, fsynced and
    ``os.replace``-d onto ``path``; when anything is raised in it (KeyboardInterrupt
    included) the temp file is removed and ``path`` is left as it was."""
    name = os.fspath(path)
    fd, tmp = _tmp_beside(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
