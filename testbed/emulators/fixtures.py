"""pytest plugin: session-scoped storage emulators and a fresh bucket per test.

Register with ``pytest_plugins = ["testbed.emulators.fixtures"]`` in ``tests/conftest.py``.

Session fixtures (started on first use, stopped at the end of the session, also when tests
fail; a start failure is a test *error* carrying the emulator's log, never a skip):

* ``s3_emulator`` -> :class:`S3Emulator`, ``azure_emulator`` -> :class:`AzureEmulator`,
  ``gcs_emulator`` -> :class:`GcsEmulator`.

Function fixtures (a new, empty, uniquely named bucket per test, emptied afterwards):

* ``s3_bucket`` -> :class:`S3Bucket`, ``azure_container`` -> :class:`AzureContainer`,
  ``gcs_bucket`` -> :class:`GcsBucket`; each has ``.name``, ``.config`` (obstore config
  keys), ``.client_options`` and ``.store(prefix=None)``.
* ``emulated_bucket``: parametrized over ``s3``, ``azure``, ``gcs`` (test ids
  ``[s3]``...), for tests that must pass on every backend. Only the emulators a selected
  test needs are started.

Importing this plugin also installs :mod:`backup_store.exit_guard` (an ``atexit`` wait
that prevents a SIGABRT at interpreter exit after obstore async calls).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest

from backup_store import exit_guard
from testbed.emulators._base import BackendKind, EmulatedBucket, Emulator, unique_bucket_name
from testbed.emulators.azure import AzureContainer, AzureEmulator
from testbed.emulators.gcs import GcsBucket, GcsEmulator
from testbed.emulators.s3 import S3Bucket, S3Emulator

# Async obstore calls can abort the interpreter at exit (see exit_guard): guard the run.
exit_guard.install()

BACKENDS: tuple[BackendKind, ...] = ("s3", "azure", "gcs")

EmulatorT = TypeVar("EmulatorT", bound=Emulator[Any])


def _run_emulator(emulator: EmulatorT) -> Iterator[EmulatorT]:
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.stop()


def empty_bucket(bucket: EmulatedBucket) -> None:
    """Delete every object in ``bucket`` (best effort: emulators keep data in memory)."""
    import obstore

    with contextlib.suppress(Exception):
        store = bucket.store()
        for batch in obstore.list(store, chunk_size=500):
            paths = [meta["path"] for meta in batch]
            if paths:
                obstore.delete(store, paths)


def _bucket_for(request: pytest.FixtureRequest, emulator: Emulator[Any]) -> Iterator[Any]:
    bucket = emulator.create_bucket(unique_bucket_name(request.node.name))
    yield bucket
    empty_bucket(bucket)


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[S3Emulator]:
    yield from _run_emulator(S3Emulator())


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[AzureEmulator]:
    yield from _run_emulator(AzureEmulator())


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    yield from _run_emulator(GcsEmulator())


@pytest.fixture
def s3_bucket(request: pytest.FixtureRequest, s3_emulator: S3Emulator) -> Iterator[S3Bucket]:
    yield from _bucket_for(request, s3_emulator)


@pytest.fixture
def azure_container(
    request: pytest.FixtureRequest, azure_emulator: AzureEmulator
) -> Iterator[AzureContainer]:
    yield from _bucket_for(request, azure_emulator)


@pytest.fixture
def gcs_bucket(request: pytest.FixtureRequest, gcs_emulator: GcsEmulator) -> Iterator[GcsBucket]:
    yield from _bucket_for(request, gcs_emulator)


@pytest.fixture(params=BACKENDS)
def emulated_bucket(request: pytest.FixtureRequest) -> Iterator[EmulatedBucket]:
    kind: BackendKind = request.param
    emulator: Emulator[Any] = request.getfixturevalue(f"{kind}_emulator")
    yield from _bucket_for(request, emulator)
