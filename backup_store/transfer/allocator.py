"""Large transfer buffers go back to the system when freed (glibc).

Transfers hold ``part_size`` buffers that obstore's threads allocate and free.
glibc raises its mmap threshold to the size of the first large block freed and
then serves later ones from per-thread arenas, which keep what is freed: a ranged
restore's RSS then grows with the threads, not with the buffers alive (226-244 MiB
at 4 GiB on Azure and GCS, against 150 MiB wanted). A fixed threshold of 1 MiB
keeps every larger block in a mapping of its own, returned when freed. The setting
is process-wide, made once when the first object-store I/O is built (before any
transfer), where the C library is glibc; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter numbers: the free memory at the heap's top kept
before it is returned, and the size from which a block is a mapping of its own."""
LARGE_BLOCK_BYTES = 1 << 20

_done = False
_lock = threading.Lock()


def return_large_blocks() -> bool:
    """Make blocks of ``LARGE_BLOCK_BYTES`` and more mappings of their own (once per
    process); whether glibc took the setting."""
    global _done
    with _lock:
        if _done:
            return True
        _done = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False  # not glibc (musl, macOS): their allocators differ
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        # (Both fixed: raising one raised the other, as glibc's dynamic threshold does.)
        trimmed = mallopt(M_TRIM_THRESHOLD, 2 * LARGE_BLOCK_BYTES)
        return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES) and trimmed)
