"""The one place where obstore's and the operating system's errors become
:mod:`backup_store.errors`, scrubbed of credentials and stamped with store and key.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import urlsplit

from obstore import exceptions as obstore_errors

from backup_store.errors import (
    BackupStoreError,
    ConfigurationError,
    InvalidBackupStateError,
    ObjectNotFoundError,
    StoreUnavailableError,
    describe_error,
)

T = TypeVar("T")


_MISSING_LOCATION = re.compile(r"<Code>(NoSuchBucket|ContainerNotFound)</Code>")
_BUCKET_NAME = re.compile(r"<BucketName>([^<]+)</BucketName>")


def missing_location(error: BaseException, store: str) -> str | None:
    """ "bucket X does not exist" when a service's error body says so (S3's and GCS's
    ``NoSuchBucket``, Azure's ``ContainerNotFound``; obstore keeps the body in its
    message), else None."""
    text = str(error)
    code = _MISSING_LOCATION.search(text)
    if code is None:
        return None
    named = _BUCKET_NAME.search(text)
    # The store's description starts with its URL: s3://bucket/..., az://container.
    name = named.group(1) if named else urlsplit(store.split(" ")[0]).hostname or "?"
    what = "container" if code.group(1) == "ContainerNotFound" else "bucket"
    return f"{what} {name} does not exist"


def translate_error(error: BaseException, *, store: str, key: str | None) -> BackupStoreError:
    """Map an obstore or OS exception to :mod:`backup_store.errors`, scrubbed of
    anything that could carry a credential, with the store and key."""
    if isinstance(error, BackupStoreError):
        return error.with_context(store=store, key=key)
    detail = describe_error(error)
    error_type: type[BackupStoreError]
    missing = missing_location(error, store)
    if missing is not None:
        error_type, message = StoreUnavailableError, missing
    elif isinstance(error, obstore_errors.NotFoundError | FileNotFoundError):
        error_type, message = ObjectNotFoundError, f"object not found: {detail}"
    elif isinstance(error, obstore_errors.AlreadyExistsError | obstore_errors.PreconditionError):
        error_type = InvalidBackupStateError
        message = f"a concurrent writer changed the object first: {detail}"
    elif isinstance(
        error, obstore_errors.PermissionDeniedError | obstore_errors.UnauthenticatedError
    ):
        error_type, message = StoreUnavailableError, f"access denied: {detail}"
    elif isinstance(error, obstore_errors.UnknownConfigurationKeyError):
        error_type, message = ConfigurationError, f"invalid store configuration: {detail}"
    elif isinstance(error, obstore_errors.BaseError | OSError):
        error_type, message = StoreUnavailableError, f"storage request failed: {detail}"
    else:
        error_type, message = BackupStoreError, f"{type(error).__name__}: {detail}"
    return error_type(message, store=store, key=key)
