"""The store-kind marker: which store kind owns a location.

Our stores claim a location (``bp/.backup-store.json``, create-only) on their
first write; any other kind then refuses it with
:class:`~backup_store.errors.ForeignStoreKindError`, even where two kinds share
Zeebe's format (GCS, Azure and filesystem). A location nobody claimed is one
only Zeebe wrote (or an empty one): every kind may read it, and a manifest of
the other JSON form is refused as foreign when decoded.
"""

from __future__ import annotations

import json

from backup_store.errors import ForeignStoreKindError, ManifestParseError
from backup_store.format.keys import owner_marker_key
from backup_store.format.manifest import ManifestForm, WrongManifestFormError
from backup_store.io import ObjectIO, WriteConflict

MARKER_FORMAT = 1


class OwnershipMarker:
    """Checks (and on the first write, claims) a location for one store kind.

    Once the location is known to be ours, later checks cost nothing.
    :attr:`writing` says whether this store has been asked to write it (a save,
    delete, mark failed, catalog rebuild or a probe for writing): only then does a
    list keep the catalog as a side effect, so a store that only reads (the CLI's
    list and status, a migrate's source, verify) never writes.
    """

    def __init__(self, io: ObjectIO, kind: str, base_path: str | None) -> None:
        self.io = io
        self.kind = kind
        self.key = owner_marker_key(base_path)
        self._confirmed = False
        self.writing = False

    async def check(self, *, writing: bool) -> bool:
        """Refuse a location another kind owns; claim an unclaimed one when writing.

        Returns whether the location is claimed (by this kind) afterwards.
        """
        if self._confirmed:
            self.writing = self.writing or writing
            return True
        found = await self.io.get(self.key)
        if found is None and writing:
            await self.io.prepare_for_writes()
            marker = json.dumps({"storeKind": self.kind, "format": MARKER_FORMAT}).encode()
            try:
                await self.io.put(self.key, marker, create_only=True)
                self._confirmed = self.writing = True
                return True
            except WriteConflict:
                found = await self.io.get(self.key)
        if found is None:
            return False  # nobody claimed it: empty, or written by Zeebe itself
        try:
            owner = str(json.loads(found.data)["storeKind"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise ManifestParseError("the store-kind marker is unreadable", key=self.key) from None
        if owner != self.kind:
            raise ForeignStoreKindError(
                f"this location holds backups written by the {owner} store kind; "
                f"the {self.kind} store does not read them",
                owner_kind=owner,
                key=self.key,
            )
        self._confirmed = True
        self.writing = self.writing or writing
        return True

    def foreign_form(self, error: WrongManifestFormError, key: str) -> ForeignStoreKindError:
        """The error for a manifest in the other JSON form at an unclaimed location."""
        owner = "s3" if error.found is ManifestForm.S3 else "gcs, azure or filesystem"
        return ForeignStoreKindError(
            f"the manifest at this key was written by the {owner} store kind "
            f"({error.found.value} form); the {self.kind} store does not read it",
            owner_kind=owner,
            key=key,
        )
