"""What a storage service guarantees natively, declared per backend, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, ObjectStore, S3Store

from backup_store.errors import (
    ConfigurationError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Capabilities:
    """What a storage service guarantees natively, as declared for its backend.

    Attributes:
        native_compare_and_swap: version-matched writes are checked by the service
            (e-tag or generation); otherwise :class:`ObstoreIO` emulates them by
            comparing bytes under a lock (in this process, or across processes
            for :class:`LocalFileIO`).
        ordered_listing: recursive listings return keys in lexicographic order.
        server_side_list_offset: ``list(offset=...)`` is answered by the service
            (S3 ``start-after``, GCS ``startOffset``); otherwise obstore filters
            the whole listing on the client.
        aborts_interrupted_uploads: a multipart upload whose source fails is
            aborted, leaving no parts behind (Azure instead discards uncommitted
            blocks after a week; a kill -9 leaves parts on every service).
        copies_customer_key_objects: a server-side copy within the store works on
            objects encrypted with a customer-provided key (S3 SSE-C: obstore's copy
            sends the source's key headers). Azure's is not declared: with a key,
            obstore copies by Put Blob From URL, which refuses sources over 5,000 MiB.
            Where it is false and :attr:`ObjectIO.customer_key` is set, copy by
            downloading and uploading.
        server_side_copy: :meth:`ObjectIO.copy` makes a new object from a stored one
            inside the service, and the copy is complete when it returns (S3
            CopyObject, GCS copy, a filesystem hard link). Azure's Copy Blob may
            answer while the copy is still pending: an Azure store declares copies
            only where it can ask for the copy's state (``ObstoreIO(copy_status=)``:
            Shared Key or SAS credentials), and its copies wait for it.
    """

    native_compare_and_swap: bool
    ordered_listing: bool
    server_side_list_offset: bool
    aborts_interrupted_uploads: bool
    copies_customer_key_objects: bool = False
    max_key_bytes: int | None = None
    """The longest key the service stores, in UTF-8 bytes, base path included
    (S3 and GCS: 1,024; Azure: 1,024 characters)."""
    max_segment_bytes: int | None = None
    """The longest path segment, in UTF-8 bytes (a filesystem's ``NAME_MAX``, 255)."""
    server_side_copy: bool = False
    max_copy_bytes: int | None = None
    """The largest object one :meth:`ObjectIO.copy` request copies (S3 CopyObject: 5 GiB)."""
    list_spill: int | None = 1
    """How many pages of :meth:`ObjectIO.list` one listing response of the service may
    fill (pages are requested one at a time, as they are asked for; a response's
    objects that do not fit in the page that asked for it come in the next ones):
    1 where a response holds at most a page (S3 and GCS: 1,000 keys, as the pages),
    Azure's 5,000 keys fill 5; None where the whole listing is one response."""

    def can_copy(self, size: int, *, customer_key: bool = False) -> bool:
        """Whether an object of ``size`` stored bytes can be copied inside the service
        (``customer_key``: the objects are encrypted with a customer-provided key)."""
        limit = self.max_copy_bytes
        if customer_key and not self.copies_customer_key_objects:
            return False
        return self.server_side_copy and (limit is None or size <= limit)

    def key_problem(self, key: str) -> str | None:
        """Why ``key`` cannot be stored, listed, read and deleted here; None when it can.

        Beyond the declared limits, no service takes a control character: some
        store it but can then never list or delete it.
        """
        if control := _CONTROL.search(key):
            return f"it contains the control character U+{ord(control.group()):04X}"
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            return "it is not valid Unicode text"
        if self.max_key_bytes is not None and size > self.max_key_bytes:
            return (
                f"its object key is {size} bytes, over the store's limit of "
                f"{self.max_key_bytes} bytes (base path included)"
            )
        if self.max_segment_bytes is not None:
            for segment in key.split("/"):
                if len(segment.encode("utf-8")) > self.max_segment_bytes:
                    return (
                        f"{segment!r} is {len(segment.encode('utf-8'))} bytes, over the "
                        f"store's limit of {self.max_segment_bytes} bytes per name"
                    )
        return None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CLOUD_KEY_BYTES = 1024
"""S3, GCS and Azure keep keys of up to 1,024 bytes (Azure: characters)."""
S3_COPY_BYTES = 5 * 1024**3
"""S3 copies objects of up to 5 GiB in one CopyObject request."""
AZURE_LIST_SPILL = 5
"""Azure answers a listing 5,000 keys at a time; :class:`ObstoreIO` pages hold 1,000."""
NAME_MAX = 255
"""The longest file name of the filesystems a store folder lives on (Linux, macOS)."""

_CAPABILITIES: dict[type[Any], Capabilities] = {
    S3Store: Capabilities(
        True,
        True,
        True,
        True,
        copies_customer_key_objects=True,
        max_key_bytes=CLOUD_KEY_BYTES,
        server_side_copy=True,
        max_copy_bytes=S3_COPY_BYTES,
    ),
    GCSStore: Capabilities(
        True, True, True, True, max_key_bytes=CLOUD_KEY_BYTES, server_side_copy=True
    ),
    AzureStore: Capabilities(
        True, True, False, False, max_key_bytes=CLOUD_KEY_BYTES, list_spill=AZURE_LIST_SPILL
    ),
    MemoryStore: Capabilities(True, True, False, True, server_side_copy=True, list_spill=None),
    LocalStore: Capabilities(
        False, False, False, True, max_segment_bytes=NAME_MAX, server_side_copy=True
    ),
}


def capabilities_of(store: ObjectStore) -> Capabilities:
    """The declared capabilities of an obstore store type."""
    for store_type, capabilities in _CAPABILITIES.items():
        if isinstance(store, store_type):
            return capabilities
    raise ConfigurationError(f"no capabilities are declared for {type(store).__name__}")
