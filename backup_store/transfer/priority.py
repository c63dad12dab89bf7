"""The disk priority of transfer threads: Linux's idle I/O class on request.

A backup read from a broker's disk competes with the broker's own writes. With
:func:`lower_disk_priority`, every transfer thread (which reads and writes the
local files) runs in the ``idle`` I/O scheduling class: it gets the disk only when
nothing else asks (under the BFQ scheduler; ``mq-deadline`` and ``none`` ignore
classes). ``ionice -p <thread id>`` shows it (``idle``). Elsewhere it is a no-op.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

log = logging.getLogger(__name__)

IOPRIO_CLASS_NONE = 0
IOPRIO_CLASS_IDLE = 3
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS = 1  # with id 0: the calling thread
_SYSCALLS = {"x86_64": (251, 252), "aarch64": (30, 31), "ppc64le": (273, 274)}
"""``(ioprio_set, ioprio_get)`` system call numbers per machine."""

_wanted = IOPRIO_CLASS_NONE
_applied = threading.local()


def _syscalls() -> tuple[int, int] | None:
    if os.name != "posix" or platform.system() != "Linux":
        return None
    return _SYSCALLS.get(platform.machine())


def lower_disk_priority(lower: bool = True) -> bool:
    """Run transfer threads in the idle I/O class from their next transfer on
    (``lower=False``: the default class again); whether the platform allows it
    (otherwise a note is logged and nothing changes)."""
    global _wanted
    if _syscalls() is None:
        if lower:
            log.info(
                "a lower disk priority is not available on %s/%s: transfers keep theirs",
                platform.system(),
                platform.machine(),
            )
        return False
    _wanted = IOPRIO_CLASS_IDLE if lower else IOPRIO_CLASS_NONE
    return True


def apply_disk_priority() -> None:
    """Give the calling (transfer) thread the wanted I/O class, once per change."""
    if getattr(_applied, "io_class", IOPRIO_CLASS_NONE) == _wanted:
        return
    calls = _syscalls()
    assert calls is not None  # _wanted is only set where they exist
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(calls[0], IOPRIO_WHO_PROCESS, 0, _wanted << IOPRIO_CLASS_SHIFT) != 0:
        log.warning("ioprio_set failed: %s", os.strerror(ctypes.get_errno()))
    _applied.io_class = _wanted


def disk_priority_class() -> int | None:
    """The calling thread's I/O class (``ioprio_get``), None where it cannot be read."""
    calls = _syscalls()
    if calls is None:
        return None
    value = ctypes.CDLL(None, use_errno=True).syscall(calls[1], IOPRIO_WHO_PROCESS, 0)
    return None if value < 0 else int(value) >> IOPRIO_CLASS_SHIFT
