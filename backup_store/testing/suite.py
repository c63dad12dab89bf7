"""The whole conformance kit: every behaviour mixin composed into one class.

Like Zeebe's ``BackupStoreTestKit``, which composes its behaviour interfaces,
:class:`BackupStoreConformance` is the sum of the mixins in
:mod:`backup_store.testing.behaviours`; subclass it to run everything, or
subclass only the mixins you want.
"""

from __future__ import annotations

from backup_store.testing import behaviours as b


class BackupStoreConformance(
    b.SavingBehaviour,
    b.StatusBehaviour,
    b.ListingBehaviour,
    b.DeletingBehaviour,
    b.RestoringBehaviour,
    b.DurabilityBehaviour,
    b.ZeebeManifestsBehaviour,
    b.MetadataBehaviour,
    b.DeletedBehaviour,
):
    """Every scenario of ``conformance.md`` that applies to all stores.

    Subclass it and provide a ``store_harness`` fixture returning a
    :class:`~backup_store.testing.StoreHarness`. Stores configured to compress add
    :class:`CompressionBehaviour` (also importable as ``CompressionConformance``).
    """


CompressionConformance = b.CompressionBehaviour
"""The compression scenarios under their earlier name."""

__all__ = ["BackupStoreConformance", "CompressionConformance"]
