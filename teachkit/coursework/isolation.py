"""Keeping one submission away from everything else: limits, a read-only view of the grader's files, cleanup.

* Limits: address space (memory), file size and no core dumps, set with `resource` in the child before
  it starts; the wall-clock limit is the parent's `subprocess` timeout.
* Read-only files (Linux, as root): the child gets its own mount namespace in which the protected
  directories (the instructor's and autograder files, the submissions, teachkit and the Python
  installation) are bind-mounted read-only, so writing or deleting there fails. A submission running
  as root could remount them (a determined attack); the parent's before/after check below still sees it.
* Before/after check (without the namespace): the parent hashes the protected files before each
  submission and restores any file that changed, disappeared or appeared, and reports the submission.
  With the namespace those files were read-only to the submission, so a change there is someone
  else's (an instructor saving a notebook mid-batch): it is logged, not blamed on a student.
* Cleanup: every process started for a submission carries a token in its environment; the parent kills
  all of them afterwards, including a kernel that outlived its parent.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

__all__ = ["Snapshot", "limits_preexec", "kill_token_processes", "namespace_works"]

_CLONE_NEWNS, _MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20000, 1, 32, 4096, 16384, 1 << 18


def _mount(libc, src, target, flags) -> None:
    if libc.mount(src, target, None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _read_only_namespace(paths: list[str]) -> None:
    """In a new mount namespace, make each path a read-only bind mount of itself (needs CAP_SYS_ADMIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount(libc, None, b"/", _MS_REC | _MS_PRIVATE)  # our mounts never propagate back to the host
    for p in paths:
        b = os.fsencode(p)
        _mount(libc, b, b, _MS_BIND | _MS_REC)
        _mount(libc, None, b, _MS_BIND | _MS_REMOUNT | _MS_RDONLY)


def limits_preexec(memory_mb: int, file_mb: int, read_only: list[str] | None) -> Callable[[], None]:
    """A preexec_fn for subprocess: resource limits, and the read-only namespace when read_only is given."""

    def preexec() -> None:
        memory = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if read_only:
            _read_only_namespace(read_only)

    return preexec


def namespace_works(paths: list[str]) -> bool:
    """Whether this process may start children in a read-only mount namespace (Linux, CAP_SYS_ADMIN)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    probe = "import os, sys; p = sys.argv[1]; f = os.path.join(p, '.teachkit-probe')\n" \
            "try:\n    open(f, 'w').close()\nexcept OSError:\n    sys.exit(0)\nos.remove(f); sys.exit(1)"
    try:
        r = subprocess.run([sys.executable, "-c", probe, paths[0]], preexec_fn=limits_preexec(4096, 64, paths),
                           timeout=60, capture_output=True)
    except (subprocess.SubprocessError, OSError):
        return False
    return r.returncode == 0


def kill_token_processes(token: str) -> int:
    """SIGKILL every process whose environment carries TEACHKIT_GRADING_TOKEN=token; returns how many."""
    import psutil

    killed = 0
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("TEACHKIT_GRADING_TOKEN") == token:
                proc.send_signal(signal.SIGKILL)
                killed += 1
        except (psutil.Error, OSError):
            continue
    return killed


class Snapshot:
    """The bytes of every file under some directories, to find and undo what a submission changed there."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r).resolve() for r in roots if Path(r).exists()]
        self.files = {p: p.read_bytes() for p in self._walk()}
        self.digests = {p: hashlib.sha256(b).hexdigest() for p, b in self.files.items()}

    def _walk(self) -> list[Path]:
        out = []
        for root in self.roots:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
                # .OTTER_LOG is otter's log of checks run in a notebook there, not graded material
                out += [Path(dirpath) / f for f in filenames if not f.endswith(".pyc") and f != ".OTTER_LOG"]
        return out

    def changes(self) -> list[str]:
        """Files that changed, disappeared or appeared since the snapshot (paths as strings)."""
        now = set(self._walk())
        changed = [p for p in self.files if p not in now or hashlib.sha256(p.read_bytes()).hexdigest() != self.digests[p]]
        return sorted(str(p) for p in changed + sorted(now - set(self.files)))

    def restore(self, remove_new_under: list[Path] = ()) -> list[str]:
        """Put every changed or deleted file back, remove new files under `remove_new_under`; returns what changed.

        New files elsewhere (e.g. an instructor saving a notebook while a batch runs) are reported, not removed.
        """
        changed = self.changes()
        removable = [Path(r).resolve() for r in remove_new_under]
        for name in changed:
            p = Path(name)
            if p not in self.files and not any(r == p or r in p.parents for r in removable):
                continue
            if p in self.files:
                p.parent.mkdir(parents=True, exist_ok=True)
                if p.is_dir() and not p.is_symlink():
                    import shutil

                    shutil.rmtree(p)
                elif p.is_symlink():
                    p.unlink()
                p.write_bytes(self.files[p])
            elif p.is_file() or p.is_symlink():
                p.unlink()
        return changed
