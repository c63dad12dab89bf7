"""The conformance suite every backup store must pass (``conformance.md``).

It is a pytest plugin, registered through the ``pytest11`` entry point, so any
project that installs ``backup-store`` can run it against its own store:

.. code-block:: python

    import pytest
    from backup_store.testing import BackupStoreConformance, ObjectStoreHarness

    class TestMyStore(BackupStoreConformance):
        @pytest.fixture
        def store_harness(self, tmp_path):
            return ObjectStoreHarness(lambda: MyBackupStore(tmp_path / "store"))

The harness opens fresh instances of the store under test over one location
(to test durability across close and reopen) and gives raw access to the
objects stored there (to place Zeebe's own manifests, corrupt a file, or check
the exact set of objects a backup leaves). :class:`ObjectStoreHarness` does all
of that for any :class:`~backup_store.ObjectBackupStore`; other stores implement
:class:`StoreHarness` themselves.

Extra suites apply only where they make sense, as mixins:
:class:`CompressionConformance` for stores configured to compress (S3 with zstd).
"""

from backup_store.testing.harness import ObjectStoreHarness, StoreHarness
from backup_store.testing.suite import BackupStoreConformance, CompressionConformance

__all__ = [
    "BackupStoreConformance",
    "CompressionConformance",
    "ObjectStoreHarness",
    "StoreHarness",
]
