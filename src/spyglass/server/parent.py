"""Child processes that die with the process that started them.

A worker process (a collector's ``--workers``, an agent's decoder, a tracegen sender) is of
no use once its parent is gone, and left running it holds ports, memory and CPU: a parent
killed with SIGKILL cannot stop it, and a pool worker blocked on its task queue never sees
that queue close (it holds a copy of the writing end itself).
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux: the thread that
    started it, which for every caller here lives as long as the parent); if the parent is
    already gone (it died between the start and here), exit now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the caller's own end-of-file checks remain
        pass
    if os.getppid() != parent:
        os._exit(0)
