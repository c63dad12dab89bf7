"""Deprecated: re-exports the manifest codec of :mod:`backup_store.format.manifest_json`."""

from backup_store.format.manifest import (
    ZSTD,
    FileEntry,
    Manifest,
    ManifestForm,
    WrongManifestFormError,
)
from backup_store.format.manifest_json import (
    decode_common,
    decode_manifest,
    decode_s3,
    encode_common,
    encode_manifest,
    encode_s3,
)

__all__ = [
    "ZSTD",
    "FileEntry",
    "Manifest",
    "ManifestForm",
    "WrongManifestFormError",
    "decode_common",
    "decode_manifest",
    "decode_s3",
    "encode_common",
    "encode_manifest",
    "encode_s3",
]
