"""The one seam between backup-store and object storage.

Every request the stores make to a bucket, container or directory goes through an
:class:`ObjectIO` (:mod:`.base`). :mod:`.obstore` is the only module that calls
obstore (backend modules only *construct* obstore stores from their configurations)
and :mod:`.errors` the only place where obstore's and the operating system's errors
are translated into :mod:`backup_store.errors`, each stamped with the store and the key.

Implementations:

* :class:`ObstoreIO` over any obstore ``ObjectStore`` (S3, GCS, Azure, memory);
* :class:`LocalFileIO`, its filesystem variant (:mod:`.local`);
* :class:`HookedIO` (:mod:`.wrapper`), which forwards every request to another
  ``ObjectIO`` after an awaited hook: where tests count requests, inject latency, or
  pause one chosen request to force an interleaving;
* :class:`ThrottledIO` (:mod:`.throttle`), which draws every body's bytes from a
  bandwidth limit (:class:`~backup_store.transfer.bandwidth.TokenBucket`).

What a backend can and cannot do is declared, not guessed: see :class:`Capabilities`
and :func:`capabilities_of` (:mod:`.capabilities`).
"""

from backup_store.io.base import (
    DEFAULT_PART_CONCURRENCY,
    DEFAULT_PART_SIZE,
    READ_WHOLE_LIMIT,
    CopyReach,
    Listing,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    UploadGroup,
    WriteConflict,
    until_swapped,
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
from backup_store.io.throttle import ThrottledIO
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
    "WRITES",
    "Capabilities",
    "CopyReach",
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
    "ThrottledIO",
    "UploadCancelled",
    "UploadGroup",
    "WrapperIO",
    "WriteConflict",
    "capabilities_of",
    "failure_cause",
    "missing_location",
    "translate_error",
    "until_swapped",
]
