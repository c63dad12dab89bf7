"""Deprecated: re-exports :mod:`backup_store.io`, where the object I/O seam lives."""


from backup_store.io.base import (
    DEFAULT_PART_CONCURRENCY,
    DEFAULT_PART_SIZE,
    READ_WHOLE_LIMIT,
    Listing,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    UploadGroup,
    WriteConflict,
)
from backup_store.io.capabilities import CLOUD_KEY_BYTES, NAME_MAX, Capabilities, capabilities_of
from backup_store.io.errors import failure_cause, missing_location, translate_error
from backup_store.io.local import FOLDER_ATTEMPTS, READ_ATTEMPTS, LocalFileIO
from backup_store.io.obstore import (
    DEFAULT_IDLE_SECONDS,
    DEFAULT_METADATA_SECONDS,
    DOWNLOAD_CHUNK_SIZE,
    LIST_PAGE,
    SMALL_BODY,
    Deadlines,
    ObstoreIO,
    UploadCancelled,
)
from backup_store.io.wrapper import HookedIO, Request

__all__ = [
    "CLOUD_KEY_BYTES",
    "DEFAULT_IDLE_SECONDS",
    "DEFAULT_METADATA_SECONDS",
    "DEFAULT_PART_CONCURRENCY",
    "DEFAULT_PART_SIZE",
    "DOWNLOAD_CHUNK_SIZE",
    "FOLDER_ATTEMPTS",
    "LIST_PAGE",
    "NAME_MAX",
    "READ_ATTEMPTS",
    "READ_WHOLE_LIMIT",
    "SMALL_BODY",
    "Capabilities",
    "Deadlines",
    "HookedIO",
    "Listing",
    "LocalFileIO",
    "ObjectIO",
    "ObjectMeta",
    "ObjectVersion",
    "ObstoreIO",
    "Request",
    "StoredObject",
    "UploadCancelled",
    "UploadGroup",
    "WriteConflict",
    "capabilities_of",
    "failure_cause",
    "missing_location",
    "translate_error",
]
