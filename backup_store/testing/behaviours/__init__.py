"""The conformance scenarios, one mixin per behaviour of ``conformance.md``.

Each mixin is a pytest test class body: subclass the ones that apply to your store
(or :class:`~backup_store.testing.BackupStoreConformance`, which composes them all)
and provide a ``store_harness`` fixture.
"""

from backup_store.testing.behaviours.compression import CompressionBehaviour
from backup_store.testing.behaviours.deleted import DeletedBehaviour
from backup_store.testing.behaviours.deleting import DeletingBehaviour
from backup_store.testing.behaviours.durability import DurabilityBehaviour
from backup_store.testing.behaviours.listing import ListingBehaviour
from backup_store.testing.behaviours.metadata import MetadataBehaviour
from backup_store.testing.behaviours.restoring import RestoringBehaviour
from backup_store.testing.behaviours.saving import SavingBehaviour
from backup_store.testing.behaviours.status import StatusBehaviour
from backup_store.testing.behaviours.zeebe_manifests import ZeebeManifestsBehaviour

__all__ = [
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
]
