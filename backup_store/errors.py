"""The error hierarchy of backup-store.

Every error raised by a store is a :class:`BackupStoreError`. Each carries the
context an operator needs: which store (described without credentials), which
backup, which object key or local path, and which operation was running.

obstore's errors are translated into this hierarchy in one place, the seam
:mod:`backup_store.io`, which also scrubs anything that could carry a
credential (URL query strings, signatures) from the underlying message
(:func:`scrub`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backup_store.model import BackupIdentifier, BackupStatusCode

MIGRATE_HINT = "use `backup-store migrate SOURCE_URL TARGET_URL` to copy backups across store kinds"


class BackupStoreError(Exception):
    """Root of every error raised by backup-store.

    Attributes:
        message: what went wrong, in words.
        store: a credential-free description of the store (e.g. ``s3://bucket/base``).
        backup_id: the backup concerned, if any.
        key: the object key or local path concerned, if any.
        operation: the store operation that failed (``save``, ``restore``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        store: str | None = None,
        backup_id: BackupIdentifier | None = None,
        key: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.store = store
        self.backup_id = backup_id
        self.key = key
        self.operation = operation

    def with_context(
        self,
        *,
        store: str | None = None,
        backup_id: BackupIdentifier | None = None,
        key: str | None = None,
        operation: str | None = None,
    ) -> BackupStoreError:
        """Fill in context that is still missing; returns ``self``."""
        self.store = self.store or store
        self.backup_id = self.backup_id or backup_id
        self.key = self.key or key
        self.operation = self.operation or operation
        return self

    def __str__(self) -> str:
        parts = []
        if self.operation:
            parts.append(f"operation={self.operation}")
        if self.store:
            parts.append(f"store={self.store}")
        if self.backup_id is not None:
            parts.append(f"backup={self.backup_id}")
        if self.key:
            parts.append(f"key={self.key}")
        return f"{self.message} [{', '.join(parts)}]" if parts else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidInputError(BackupStoreError, ValueError):
    """An argument is invalid (unsafe file name, id out of range, bad URL...).

    Raised before anything is written.
    """


class ConfigurationError(InvalidInputError):
    """A store configuration or store URL is invalid."""


class InvalidBackupStateError(BackupStoreError):
    """The backup is in a state that does not allow the operation.

    For example: saving over an existing backup, deleting an IN_PROGRESS backup,
    restoring a backup that is not COMPLETED, or losing a conditional write to a
    concurrent writer.
    """

    def __init__(
        self,
        message: str,
        *,
        status: BackupStatusCode | None = None,
        store: str | None = None,
        backup_id: BackupIdentifier | None = None,
        key: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, store=store, backup_id=backup_id, key=key, operation=operation)
        self.status = status


class BackupAlreadyExistsError(InvalidBackupStateError):
    """A manifest already exists for the backup id being saved."""


class ManifestParseError(BackupStoreError):
    """A manifest object could not be parsed."""


class ObjectTooLargeError(BackupStoreError):
    """An object read whole (a manifest, an integrity record, a catalog object) is
    larger than any this library writes: refused before its bytes are read, so that
    memory stays bounded whatever another program wrote at that key.

    Attributes:
        size: the object's size in bytes.
        limit: the most bytes an object read whole may have.
    """

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(
            f"the object is {size} bytes, more than the {limit} an object read whole may have",
            key=key,
        )
        self.size = size
        self.limit = limit


class SourceFileNotFoundError(BackupStoreError, FileNotFoundError):
    """A local file to back up is missing, unreadable, or not a regular file."""


class ObjectNotFoundError(BackupStoreError):
    """An object the manifest names is missing from the store."""


class IntegrityError(BackupStoreError):
    """Stored bytes do not match the size or SHA-256 recorded when they were saved."""


class UnverifiedBackupError(IntegrityError):
    """A backup in a location our stores claimed has no integrity record tied to its
    manifest (missing, or left by an earlier backup of the same id), so its bytes
    cannot be checked; restore refuses it unless unverified data is accepted
    explicitly (``allow_unverified=True``, CLI ``--allow-unverified``)."""


class ForeignStoreKindError(BackupStoreError):
    """The location holds backups written by another store kind.

    One store kind never reads another kind's backups, even over the same bytes;
    ``backup-store migrate`` is the way across.
    """

    def __init__(
        self,
        message: str,
        *,
        owner_kind: str,
        store: str | None = None,
        backup_id: BackupIdentifier | None = None,
        key: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(
            f"{message}; {MIGRATE_HINT}",
            store=store,
            backup_id=backup_id,
            key=key,
            operation=operation,
        )
        self.owner_kind = owner_kind


class RestoreTargetError(BackupStoreError):
    """The restore's target folder cannot take a file (its name is too long for
    that filesystem, no space left, no permission); nothing is published."""


class StoreUnavailableError(BackupStoreError):
    """The storage service could not be reached or refused the credentials."""


class CustomerKeyError(StoreUnavailableError):
    """The service refused an object request for its customer-provided encryption key
    (S3 SSE-C, Azure CPK): none was given for encrypted objects, a different one, or
    one for objects stored without it. The message names the setting to give."""


class StoreClosedError(BackupStoreError):
    """The store was closed."""


_SECRETS = [
    # URL query strings carry SAS tokens and presigned signatures.
    (re.compile(r"(\w+://[^\s?\"']*)\?[^\s\"']*"), r"\1?***"),
    (
        re.compile(r"(?i)(authorization\s*[:=]\s*)((bearer|basic|sharedkey)\s+)?[^\s,;\"']+"),
        r"\1***",
    ),
    (
        re.compile(
            r"(?i)\b(sig|signature|secret[_-]?access[_-]?key|access[_-]?key[_-]?id|account[_-]?key"
            r"|sas[_-]?token|password|token|x-amz-security-token)(\s*=\s*|:(?!\s))[^\s&,;\"']+"
        ),
        r"\1\2***",
    ),
    (
        # Customer-provided encryption keys, as a header or an option (base64).
        re.compile(
            r"(?i)(server-side-encryption-customer-key|encryption[_-]key|ssec[_-]?key"
            r"|sse[_-]customer[_-]key(?:[_-]base64)?)([\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9+/]{16,}={0,2}"
        ),
        r"\1\2***",
    ),
]


def scrub(text: str) -> str:
    """Remove URL query strings and credential-looking values from a message."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def describe_error(error: BaseException) -> str:
    """The first line of an error's message, scrubbed of credentials."""
    text = str(error).strip()
    # obstore appends a multi-line "Debug source:" dump; keep the human part.
    return scrub(
        text.split("\n\nDebug source:")[0].splitlines()[0] if text else type(error).__name__
    )
