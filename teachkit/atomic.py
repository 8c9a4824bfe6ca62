"""Crash-safe files: atomic replacement (a unique temp file in the same directory, fsync, os.replace) and a per-path lock.

A kill at any moment leaves either the old file or the new one, never a half-written mix: os.replace is
atomic within one file system, and the temp file's name is unique, so two writers never share it. The
lock is fcntl.flock (msvcrt.locking on Windows) on PATH.lock, the scheme of the `filelock` package,
which does this more generally; these ~100 lines keep teachkit free of another dependency.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_dir", "file_lock", "LockedError", "check_writable"]


class LockedError(ValueError):
    """Another process holds the lock on this path (a concurrent run on the same output)."""


def fsync_dir(directory: Path) -> None:
    """Make a rename inside `directory` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[object], None], mode: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` by `data` atomically: temp file in the same directory, fsync, os.replace, fsync the directory."""
    _atomic_write(Path(path), lambda f: f.write(data), "wb")


def atomic_write_text(path: str | Path, text: str) -> None:
    """atomic_write_bytes for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sweep_temp_files(path: str | Path) -> None:
    """Remove temp files a killed writer of `path` left behind (call it while holding the path's lock)."""
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def check_writable(directory: str | Path, what: str = "--out") -> Path:
    """Create `directory` if needed and prove it is writable now (before hours of training), else a clear ValueError."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".teachkit-write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{what} {directory} is not a writable directory ({err.strerror or err}); "
                         f"choose another {what}") from None
    return directory


# locks this process holds: lock path -> [file object, depth], so a holder may re-enter (save inside a run)
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()

try:
    import fcntl

    def _try_lock(f) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
except ImportError:  # Windows
    import msvcrt

    def _try_lock(f) -> bool:
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False


def _holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def file_lock(path: str | Path, *, wait: float = 0.0, what: str = "this output") -> Iterator[Path]:
    """Hold PATH.lock (exclusive, released on exit or when the process dies); LockedError if another process holds it after `wait` s."""
    lock_path = Path(str(path) + ".lock")
    key = os.path.abspath(lock_path)
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield lock_path
        finally:
            with _HELD_GUARD:
                _HELD[key][1] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        f = open(lock_path, "a+")
        if _try_lock(f):
            # the holder before us may have unlinked the file between our open and our lock: lock the live one
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
        f.close()
        if time.monotonic() >= deadline:
            raise LockedError(f"{what} is in use: {_holder(lock_path)} holds {lock_path}. Wait for that run to "
                              "finish, or write somewhere else (another --out / --run-dir)")
        time.sleep(0.05)
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    with _HELD_GUARD:
        _HELD[key] = [f, 1]
    try:
        yield lock_path
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        with contextlib.suppress(OSError):
            lock_path.unlink()
        f.close()
