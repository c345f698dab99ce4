"""Atomic file writes: a temp file beside the target, renamed onto it only when complete."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import time

try:
    import fcntl
except ImportError:  # not POSIX: no stale-temp cleanup
    fcntl = None

__all__ = ["atomic_write"]

# A temp file older than this whose lock is free is stale: its writer died (kill -9, power
# loss) before renaming or removing it. The age covers the instant between a writer's
# O_EXCL create and its flock.
_STALE_SECONDS = 10.0


def _tmp_name(base: str) -> str:
    return f".{base}.{secrets.token_hex(6)}.tmp"


def _tmp_beside(final: str):
    """Open a new temp file beside ``final`` (mode 0666 & ~umask), locked (flock, held until
    it is closed: while its writer lives); return (fd, path)."""
    d, base = os.path.split(os.path.abspath(final))
    while True:
        tmp = os.path.join(d, _tmp_name(base))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a filesystem without flock: no cleanup marks it live
                pass
        return fd, tmp


def _remove_stale_temps(final: str) -> None:
    """Remove the temp files of earlier writes to ``final`` whose writer died: exactly our
    naming pattern (``.<name>.<12 hex>.tmp`` beside it), not locked by a live writer, and
    older than ``_STALE_SECONDS``. Best effort: any error leaves a file where it is."""
    if fcntl is None:
        return
    d, base = os.path.split(os.path.abspath(final))
    pattern = re.compile(r"\." + re.escape(base) + r"\.[0-9a-f]{12}\.tmp\Z")
    try:
        names = [n for n in os.listdir(d) if pattern.match(n)]
    except OSError:
        return
    now = time.time()
    for n in names:
        p = os.path.join(d, n)
        try:
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if now - st.st_mtime < _STALE_SECONDS or not os.path.samestat(st, os.lstat(p)):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a live writer has it
            os.unlink(p)
        except OSError:
            pass
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f:`` yields a binary file opened on a new temp file in
    ``path``'s directory. When the block ends normally the file is flushed, fsynced and
    ``os.replace``-d onto ``path``; when anything is raised in it (KeyboardInterrupt
    included) the temp file is removed and ``path`` is left as it was. Temp files of earlier
    writes to ``path`` whose process died mid-write (``kill -9``) are removed first."""
    name = os.fspath(path)
    _remove_stale_temps(name)
    fd, tmp = _tmp_beside(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, name)  # while the file (and its lock) is still open
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
