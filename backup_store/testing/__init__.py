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
listing, deleting, restoring, durability, reading Zeebe's manifests), as Zeebe's
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
"""

from backup_store.testing.behaviours import (
    CompressionBehaviour,
    DeletingBehaviour,
    DurabilityBehaviour,
    ListingBehaviour,
    RestoringBehaviour,
    SavingBehaviour,
    StatusBehaviour,
    ZeebeManifestsBehaviour,
)
from backup_store.testing.harness import ObjectStoreHarness, StoreHarness
from backup_store.testing.suite import BackupStoreConformance, CompressionConformance

__all__ = [
    "BackupStoreConformance",
    "CompressionBehaviour",
    "CompressionConformance",
    "DeletingBehaviour",
    "DurabilityBehaviour",
    "ListingBehaviour",
    "ObjectStoreHarness",
    "RestoringBehaviour",
    "SavingBehaviour",
    "StatusBehaviour",
    "StoreHarness",
    "ZeebeManifestsBehaviour",
]
