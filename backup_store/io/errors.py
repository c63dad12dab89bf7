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
    CustomerKeyError,
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


S3_KEY_SETTINGS = (
    "the store variable CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_S3_SSECKEY (or "
    "ZEEBE_BROKER_DATA_BACKUP_S3_SSECKEY), or the store option sse_customer_key"
)
AZURE_KEY_SETTINGS = "the store option encryption_key"
_ENCRYPTED = "the objects are encrypted with a customer-provided key"
_ERROR_CODE = re.compile(r"<Code>(\w+)</Code>")
_STATUS = re.compile(r"Error performing (GET|HEAD|PUT|POST) .*?status code: (\d{3})", re.DOTALL)


def customer_key_cause(error: BaseException, *, customer_key: bool) -> str | None:
    """What a refused object request says about customer-provided keys, with the
    setting to give; None when it is not about them.

    Read from the service's answer: S3's 400 ``InvalidRequest`` naming server-side
    encryption (a HEAD answers a bare 400) when no key was sent, 403 ``AccessDenied``
    (a HEAD: a bare 403) with a key, as S3 does not tell a wrong key from a refused
    read; Azure's 409 ``BlobUsesCustomerSpecifiedEncryption`` without a key, its other
    customer-key codes with one.
    """
    text = str(error)
    found = _ERROR_CODE.search(text)
    code = found.group(1) if found else None
    status = _STATUS.search(text)
    method, http = (status.group(1), status.group(2)) if status else ("", "")
    if code == "BlobUsesCustomerSpecifiedEncryption":
        return f"{_ENCRYPTED} (CPK) and none was given: give it as {AZURE_KEY_SETTINGS}"
    if (
        customer_key
        and code
        and ("CustomerSpecifiedEncryption" in code or "ClientProvidedKey" in code)
    ):
        return (
            f"{_ENCRYPTED} (CPK) other than the one given: give the key they were written "
            f"with as {AZURE_KEY_SETTINGS}"
        )
    if "stored using a form of Server Side Encryption" in text or (
        not customer_key and method == "HEAD" and http == "400" and code is None
    ):
        return f"{_ENCRYPTED} (SSE-C) and none was given: give it as {S3_KEY_SETTINGS}"
    if customer_key and "encryption parameters are not applicable" in text:
        return (
            "the object is not encrypted with a customer-provided key, but one was given: "
            "this location holds objects written without SSE-C; read them without "
            "sse_customer_key (SSECKEY)"
        )
    if customer_key and "must be made over a secure connection" in text:
        return "a customer-provided key is only sent over https: use an https endpoint"
    if (
        customer_key
        and http == "403"
        and method in ("GET", "HEAD")
        and code in (None, "AccessDenied")
    ):
        return (
            "the read was refused: the objects are encrypted with a different "
            f"customer-provided key (SSE-C) than the one given in {S3_KEY_SETTINGS}, "
            "or the credentials may not read them"
        )
    return None


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


def translate_error(
    error: BaseException, *, store: str, key: str | None, customer_key: bool = False
) -> BackupStoreError:
    """Map an obstore or OS exception to :mod:`backup_store.errors`, scrubbed of
    anything that could carry a credential, with the store and key.

    ``customer_key``: the request carried a customer-provided encryption key.
    """
    if isinstance(error, BackupStoreError):
        return error.with_context(store=store, key=key)
    detail = describe_error(error)
    error_type: type[BackupStoreError]
    missing = missing_location(error, store)
    obstore_error = isinstance(error, obstore_errors.BaseError)
    cause = failure_cause(error) if obstore_error else None
    key_cause = customer_key_cause(error, customer_key=customer_key) if obstore_error else None
    if key_cause is not None:
        error_type, message = CustomerKeyError, key_cause
    elif missing is not None:
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
