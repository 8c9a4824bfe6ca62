"""Kernel settings shared by assign and grade: local IPC sockets instead of unencrypted TCP (jupyter_client does the rest)."""
from __future__ import annotations

__all__ = ["use_ipc_kernels"]


def use_ipc_kernels() -> None:
    """Make every kernel this process starts talk over IPC sockets in its working directory, not localhost TCP.

    ipykernel warns "Kernel is running over TCP without encryption" for TCP kernels, and any local user
    could connect to an open port; otter and nbclient start their kernels with jupyter_client's
    KernelManager defaults, so the default is what we change.
    """
    import os

    if os.name != "posix":  # IPC sockets are a POSIX feature; elsewhere keep jupyter's default
        return
    from jupyter_client.manager import KernelManager

    KernelManager.class_traits()["transport"].default_value = "ipc"
