"""What every behaviour mixin shares: the store fixture and the checks they repeat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio

from backup_store.contract.store import BackupStore
from backup_store.format.manifest import ManifestForm
from backup_store.model import Backup, BackupIdentifier, NamedFileSet
from backup_store.testing.harness import StoreHarness

BackupFactory = Callable[..., Backup]
"""The ``backup_factory`` fixture: ``(backup_id=(1, 2, 3), *, with_snapshot, minimal, sizes)``."""

ID = BackupIdentifier
E = TypeVar("E", bound=BaseException)


@pytest.mark.asyncio
@pytest.mark.conformance
class StoreScenarios:
    """Base of every behaviour mixin: a store opened through the author's harness.

    The author's subclass provides the ``store_harness`` fixture; each scenario gets
    a fresh store over the harness's (initially empty) location as ``store`` and
    closes it afterwards.
    """

    @pytest_asyncio.fixture(autouse=True)
    async def _close_harness(self, store_harness: StoreHarness) -> AsyncIterator[None]:
        """Closes the author's harness once the scenario is over."""
        yield
        await store_harness.close()

    @pytest_asyncio.fixture
    async def store(self, store_harness: StoreHarness) -> AsyncIterator[BackupStore]:
        """A store opened over the harness's location, closed after the scenario."""
        async with store_harness.open() as store:
            yield store


async def objects_at_location(harness: StoreHarness) -> dict[str, bytes]:
    """Every raw object at the harness's location with its bytes (to prove nothing changed)."""
    return {key: await harness.get_object(key) for key in await harness.list_objects()}


def assert_same_files(original: Backup, restored: Backup, target: Path) -> None:
    """``restored`` names the files of ``original``, each directly in ``target``, same bytes."""
    for file_set in ("snapshot", "segments"):
        before: NamedFileSet = getattr(original, file_set)
        after: NamedFileSet = getattr(restored, file_set)
        assert sorted(after) == sorted(before), f"restored {file_set} files differ by name"
        for name in before:
            assert after[name] == target / name, f"{name} was not restored into {target}"
            assert after[name].read_bytes() == before[name].read_bytes(), (
                f"restored {file_set}/{name} differs from the original bytes"
            )


def as_in_progress(manifest: bytes, form: ManifestForm) -> bytes:
    """The same manifest with its status rewritten to IN_PROGRESS (a save that crashed)."""
    data = json.loads(manifest)
    data["statusCode"] = "in_progress" if form is ManifestForm.S3 else "IN_PROGRESS"
    return json.dumps(data, separators=(",", ":")).encode()


def describe_difference(expected: set[str], found: set[str]) -> str:
    """A failure message naming the keys missing and the keys that should not be there."""
    return (
        f"missing objects: {sorted(expected - found) or 'none'}; "
        f"unexpected objects: {sorted(found - expected) or 'none'}"
    )


@contextmanager
def refused(error: type[E], what: str) -> Iterator[pytest.ExceptionInfo[E]]:
    """Expect the store to refuse ``what`` with ``error``; fail naming ``what`` if it does not.

    A wrong exception type propagates unchanged, so its own message shows.
    """
    try:
        with pytest.raises(error) as raised:
            yield raised
    except pytest.fail.Exception:
        pytest.fail(
            f"the store must refuse {what} with {error.__name__}, but it accepted it",
            pytrace=False,
        )
