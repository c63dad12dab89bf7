"""Zeebe's on-store formats, as values.

A :class:`StoreFormat` says everything that differs between Zeebe's store
kinds on the bytes: the manifest's JSON form, the key layouts a reader looks
in, the layout a new backup is written in, and whether the manifest can record
per-file compression. Zeebe has two:

* :data:`ZEEBE_S3`: the S3 form, classic ``bp/p/c/n/...`` keys for brokers up
  to 8.8 and ``bp/manifests/...`` + ``bp/contents/...`` from 8.9 (read first);
* :data:`ZEEBE_COMMON`: the form of GCS, Azure and the filesystem, always
  ``manifests/...`` + ``contents/...``.

The engine consults only the format; the store *kind* (``"s3"``, ``"gcs"``...)
is merely the identity that keeps one kind from reading another's backups.
"""

from __future__ import annotations

from dataclasses import dataclass

from backup_store.format.keys import KeyLayout, uses_zeebe_89_layout
from backup_store.format.manifest import Manifest, ManifestForm
from backup_store.format.manifest_json import decode_manifest, encode_manifest


@dataclass(frozen=True)
class StoreFormat:
    """One of Zeebe's on-store formats.

    Attributes:
        name: ``zeebe-s3`` or ``zeebe-common``.
        manifest_form: the manifest JSON form.
        versioned_layout: new backups of brokers 8.9+ go to the ``manifests/`` +
            ``contents/`` layout and older ones to the classic one; readers look in
            both, the newer first. Without it, there is only the former.
        records_compression: the manifest records per-file compression (only then
            may a store compress).
    """

    name: str
    manifest_form: ManifestForm
    versioned_layout: bool
    records_compression: bool

    def read_layouts(self, base_path: str | None) -> list[KeyLayout]:
        """Layouts to look in, in lookup order."""
        layouts = [KeyLayout(base_path, manifests_apart=True)]
        if self.versioned_layout:
            layouts.append(KeyLayout(base_path, manifests_apart=False))
        return layouts

    def write_layout(self, base_path: str | None, broker_version: str | None) -> KeyLayout:
        """Layout a new backup of ``broker_version`` is written in."""
        apart = not self.versioned_layout or uses_zeebe_89_layout(broker_version)
        return KeyLayout(base_path, manifests_apart=apart)

    def encode(self, manifest: Manifest, layout: KeyLayout) -> bytes:
        """The manifest's bytes in this format (Zeebe 8.9+ writes ISO dates in its
        S3 ``manifests/`` layout, decimal seconds in the classic one)."""
        iso_dates = self.versioned_layout and layout.manifests_apart
        return encode_manifest(manifest, self.manifest_form, iso_dates=iso_dates)

    def decode(self, data: bytes) -> Manifest:
        """Parse a manifest of this format.

        Raises:
            WrongManifestFormError: the bytes are the other form's manifest.
            ManifestParseError: anything else unreadable.
        """
        return decode_manifest(data, self.manifest_form)


ZEEBE_S3 = StoreFormat("zeebe-s3", ManifestForm.S3, versioned_layout=True, records_compression=True)
"""Zeebe's S3 store format."""
ZEEBE_COMMON = StoreFormat(
    "zeebe-common", ManifestForm.COMMON, versioned_layout=False, records_compression=False
)
"""Zeebe's GCS, Azure and filesystem store format."""
