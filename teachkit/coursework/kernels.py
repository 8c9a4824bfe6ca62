"""Kernel settings shared by assign and grade: local IPC sockets instead of unencrypted TCP (jupyter_client does the rest)."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["use_ipc_kernels", "ipc_kernels"]


def use_ipc_kernels() -> str | None:
    """Make every kernel this process starts talk over IPC sockets in its working directory, not localhost TCP.

    ipykernel warns "Kernel is running over TCP without encryption" for TCP kernels, and any local user
    could connect to an open port; otter and nbclient start their kernels with jupyter_client's
    KernelManager defaults, so the default is what we change.
    """
    import os

    if os.name != "posix":  # IPC sockets are a POSIX feature; elsewhere keep jupyter's default
        return None
    from jupyter_client.manager import KernelManager

    trait = KernelManager.class_traits()["transport"]
    previous, trait.default_value = trait.default_value, "ipc"
    return previous


@contextmanager
def ipc_kernels():
    """use_ipc_kernels() for the kernels started inside the block only, then jupyter's default again.

    A process that goes on to start other kernels (a test session, a notebook) must not keep the IPC default:
    nbclient starts its kernels in the notebook's folder, where the relative IPC socket paths do not resolve
    from the client's folder, and the kernel never answers.
    """
    previous = use_ipc_kernels()
    try:
        yield
    finally:
        if previous is not None:
            from jupyter_client.manager import KernelManager

            KernelManager.class_traits()["transport"].default_value = previous
