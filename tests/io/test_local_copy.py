"""Copies inside a filesystem store: a hard link, else (links refused) a copy of the bytes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from backup_store.errors import ObjectNotFoundError
from backup_store.io.local import LocalFileIO


async def test_a_copy_is_a_hard_link_that_replaces_what_was_there(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path / "store", description="store")
    await io.upload("a/1/file", [b"first backup's bytes"])
    await io.upload("b/2/file", [b"left by a killed save"])
    async with io.upload_group() as group:
        await io.copy("a/1/file", "b/2/file")
        await group.persist(["b/2/file"])
    source, copy = (os.stat(tmp_path / "store" / k) for k in ("a/1/file", "b/2/file"))
    assert copy.st_ino == source.st_ino
    # One file under two names: the copy has the source's identity (e-tag).
    copied, original = await io.head("b/2/file"), await io.head("a/1/file")
    assert copied is not None and original is not None
    assert copied.e_tag == original.e_tag
    assert (tmp_path / "store/b/2/file").read_bytes() == b"first backup's bytes"


async def test_where_links_are_refused_the_bytes_are_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = LocalFileIO(tmp_path / "store", description="store")
    await io.upload("a/1/file", [b"x" * 3_000_000])

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    await io.copy("a/1/file", "b/2/file")
    source, copy = (os.stat(tmp_path / "store" / k) for k in ("a/1/file", "b/2/file"))
    assert copy.st_ino != source.st_ino
    assert (tmp_path / "store/b/2/file").read_bytes() == b"x" * 3_000_000


async def test_a_missing_source_is_not_found(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path / "store", description="store")
    with pytest.raises(ObjectNotFoundError):
        await io.copy("a/1/gone", "b/2/file")
    assert not (tmp_path / "store/b/2/file").exists()
