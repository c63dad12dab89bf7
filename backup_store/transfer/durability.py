"""Making written files and folder entries durable: fsync of folders, one
``syncfs`` for many files (:class:`FolderSync`).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar, cast

T = TypeVar("T")


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)`` where it reports writeback errors (Linux 5.8 and later)."""
    if sys.platform != "linux":
        return None
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    if (major, minor) < (5, 8):
        return None  # earlier kernels flush but do not report writeback errors
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


SYNCFS = _syncfs()


class FolderSync:
    """Makes many files written under one folder durable at once. Blocking.

    Open it *before* the files are written: ``syncfs(2)`` on its descriptor then
    writes back the whole filesystem once and reports any writeback error that
    happened since it was opened, even one another caller's ``syncfs`` already
    reported (each descriptor keeps its own error cursor). That replaces an fsync
    per file and per folder: the cost of ``cp -r`` + ``sync -f``. Without a
    ``syncfs`` that reports errors (``use_syncfs=False``, other systems, Linux
    before 5.8), :meth:`sync` fsyncs every file, then every folder from the
    files' folders up to this one.

    Unrelated dirty data on the same filesystem is written back too: the price of
    one call instead of thousands.
    """

    def __init__(self, folder: Path, *, use_syncfs: bool = True) -> None:
        self.folder = folder
        self._syncfs = SYNCFS if use_syncfs else None
        self._fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def sync(self, files: Iterable[Path]) -> None:
        """Make ``files`` (under the folder), their names and folders durable;
        raises :class:`OSError` when one may not be."""
        if self._syncfs is not None:
            if self._syncfs(self._fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"syncfs: {os.strerror(code)}", str(self.folder))
            return
        folders: set[Path] = set()
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folder = path.parent
            while folder not in folders:
                folders.add(folder)
                if folder == self.folder or folder == folder.parent:
                    break
                folder = folder.parent
        # Deepest first: a new folder's own entries before its name in its parent.
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            fsync_directory(folder)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> FolderSync:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
