"""Freed part buffers leave the process: once an object-store I/O is built, glibc
maps every block of 1 MiB or more on its own (returned to the system when freed)
instead of raising its threshold to the largest block freed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import ctypes, sys

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "store":
        from obstore.store import MemoryStore
        from backup_store.io import ObstoreIO
        ObstoreIO(MemoryStore(), description="memory")
    part = bytearray(8 << 20)  # a part buffer, freed
    del part
    before = libc.mallinfo2().hblks
    block = bytearray(3 << 19)  # 1.5 MiB
    print(libc.mallinfo2().hblks - before)
    """
)


def mapped_blocks_after_a_freed_part(build_store: bool) -> int:
    argv = [sys.executable, "-c", PROBE, "store" if build_store else "none"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def test_after_an_object_store_io_is_built_large_blocks_are_mappings_of_their_own() -> None:
    assert mapped_blocks_after_a_freed_part(build_store=True) == 1


def test_without_it_glibc_keeps_large_blocks_in_its_heap() -> None:
    # What the setting changes: glibc's threshold follows the largest block freed.
    assert mapped_blocks_after_a_freed_part(build_store=False) == 0
