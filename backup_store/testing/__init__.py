"""The conformance kit every backup store must pass (``conformance.md``).

It is a pytest plugin, registered through the ``pytest11`` entry point, so any
project that installs ``backup-store[testing]`` can run it against its own store:

.. code-block:: python

    import pytest
    from backup_store.testing import BackupStoreConformance, ObjectStoreHarness

    class TestMyStore(BackupStoreConformance):
        @pytest.fixture
        def store_harness(self, tmp_path):
            return ObjectStoreHarness(lambda: MyBackupStore(tmp_path / "store"))

:class:`BackupStoreConformance` composes one mixin per behaviour (saving, status,
listing, deleting, restoring, durability, reading Zeebe's manifests, Zeebe 8.9+'s
partition metadata and DELETED backups), as Zeebe's
``BackupStoreTestKit`` composes its behaviour interfaces; subclass only the mixins
you want to run part of it. :class:`CompressionBehaviour` is for stores configured
to compress (S3 with zstd).

The harness opens fresh instances of the store under test over one location (to
test durability across close and reopen) and gives raw access to the objects
stored there, bypassing the store under test (to place Zeebe's own manifests,
damage a file, or check the exact set of objects a backup leaves).
:class:`ObjectStoreHarness` does all of that for any
:class:`~backup_store.ObjectBackupStore`; other stores implement
:class:`StoreHarness` themselves. ``docs/conformance.md`` is the guide.

Importing this package imports nothing beyond the runtime dependencies, so that the
pytest plugin it registers never gets in the way of another project's tests; the kit
itself (which needs pytest and pytest-asyncio, the ``testing`` extra) is imported when
one of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backup_store.testing.behaviours import (
        CompressionBehaviour,
        DeletedBehaviour,
        DeletingBehaviour,
        DurabilityBehaviour,
        ListingBehaviour,
        MetadataBehaviour,
        RestoringBehaviour,
        SavingBehaviour,
        StatusBehaviour,
        ZeebeManifestsBehaviour,
    )
    from backup_store.testing.harness import ObjectStoreHarness, StoreHarness
    from backup_store.testing.suite import BackupStoreConformance, CompressionConformance

_MODULES = {
    "backup_store.testing.behaviours": (
        "CompressionBehaviour",
        "DeletedBehaviour",
        "DeletingBehaviour",
        "DurabilityBehaviour",
        "ListingBehaviour",
        "MetadataBehaviour",
        "RestoringBehaviour",
        "SavingBehaviour",
        "StatusBehaviour",
        "ZeebeManifestsBehaviour",
    ),
    "backup_store.testing.harness": ("ObjectStoreHarness", "StoreHarness"),
    "backup_store.testing.suite": ("BackupStoreConformance", "CompressionConformance"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}
EXTRA = "backup-store[testing]"
"""What to install for the kit: pytest and pytest-asyncio."""


class KitDependencyMissing(ImportError):
    """The conformance kit was used without its dependencies (the ``testing`` extra)."""


def __getattr__(name: str) -> Any:
    """Imports the kit on first use of one of its names."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] not in ("pytest", "pytest_asyncio"):
            raise
        raise KitDependencyMissing(
            f"the backup-store conformance kit needs {error.name.split('.')[0]}, which is not "
            f"installed: pip install '{EXTRA}'",
            name=error.name,
        ) from error
    globals()[name] = value
    return value


__all__ = [
    "BackupStoreConformance",
    "CompressionBehaviour",
    "CompressionConformance",
    "DeletedBehaviour",
    "DeletingBehaviour",
    "DurabilityBehaviour",
    "ListingBehaviour",
    "MetadataBehaviour",
    "ObjectStoreHarness",
    "RestoringBehaviour",
    "SavingBehaviour",
    "StatusBehaviour",
    "StoreHarness",
    "ZeebeManifestsBehaviour",
]
