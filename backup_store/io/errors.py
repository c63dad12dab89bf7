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


_REQUEST_URL = re.compile(r"Error performing [A-Z]+ (\w+://[^\s/?]+)")
_CAUSES = (
    # (pattern in obstore's full error text, what it means and what to do)
    (re.compile(r"169\.254\.169\.254|fd00:ec2::254"),
     "no credentials found (none given, none in AWS_* variables or a profile, and the instance "
     "metadata service gave none): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the store "
     "variables ..._S3_ACCESSKEY and ..._S3_SECRETKEY, or the URL options access_key_id and "
     "secret_access_key"),
    (re.compile(r"SignatureDoesNotMatch|InvalidAccessKeyId|AuthenticationFailed|InvalidSignature"),
     "the credentials were refused (the signature does not match: wrong secret key, or a key "
     "the service does not know): check the access key and secret"),
    (re.compile(r"ConnectionRefused|Connection refused"),
     "connection refused by {host}: nothing listens there (is the service running, is the "
     "endpoint's port right?)"),
    (re.compile(r"dns error|failed to lookup address|Name or service not known"),
     "cannot resolve the host name {host} (DNS): check the endpoint"),
    (re.compile(r"InvalidContentType|InvalidCertificate|UnknownIssuer|CorruptMessage|"
                r"certificate verify failed|HandshakeFailure|tls handshake"),
     "TLS failed with {host}: the endpoint does not speak https (use http://), or its "
     "certificate is not trusted"),
    (re.compile(r"kind: Timeout|TimedOut|timed out|deadline has elapsed"),
     "{host} did not answer in time (timeout): check the endpoint and the network"),
)  # fmt: skip


def failure_cause(error: BaseException) -> str | None:
    """What a failed request's full text (obstore keeps the cause chain in it) says
    went wrong, with the fix; None when it names no cause known here."""
    text = str(error)
    for pattern, meaning in _CAUSES:
        if pattern.search(text):
            url = _REQUEST_URL.search(text)
            host = urlsplit(url.group(1)).netloc if url else ""
            return meaning.format(host=host or "the endpoint")
    return None


def translate_error(error: BaseException, *, store: str, key: str | None) -> BackupStoreError:
    """Map an obstore or OS exception to :mod:`backup_store.errors`, scrubbed of
    anything that could carry a credential, with the store and key."""
    if isinstance(error, BackupStoreError):
        return error.with_context(store=store, key=key)
    detail = describe_error(error)
    error_type: type[BackupStoreError]
    missing = missing_location(error, store)
    cause = failure_cause(error) if isinstance(error, obstore_errors.BaseError) else None
    if missing is not None:
        error_type, message = StoreUnavailableError, missing
    elif cause is not None:
        error_type, message = StoreUnavailableError, cause
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
