"""Encryption at rest on S3 (moto): SSE-C with Camunda's ``ssecKey``, SSE-KMS with a key id.

What moto's server honours (moto 5): it ignores the SSE-C headers entirely (an
object written with a customer key is served without it, or with another key), so
a recording proxy in front of it (:mod:`tests.support.recording_proxy`) counts the headers
of every request and, where a test needs S3's refusals, answers SSE-C reads as
Amazon S3 does. SSE-KMS is stored by moto: the key id and bucket-key flag of a PUT
come back on the object's HEAD.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import boto3
import obstore
import pytest
from click.testing import CliRunner

from backup_store.cli import main
from backup_store.errors import CustomerKeyError, scrub
from backup_store.io import ObstoreIO, translate_error
from backup_store.stores.azure import AzureConfig
from backup_store.stores.s3 import S3BackupStore, S3Config
from testbed.cloud_stores import azure_url, s3_config, s3_url
from testbed.emulators import (
    AZURITE_ACCOUNT,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    AzureContainer,
    S3Bucket,
)
from tests.support.filesystem_stores import invoke, invoke_json
from tests.support.recording_proxy import COPY_SOURCE_KEY_MD5, KEY_MD5, RecordingProxy
from tests.support.sample_backups import A, B, restore_bytes, save_sample_backups

KEY = base64.b64encode(b"k" * 32).decode()
OTHER_KEY = base64.b64encode(b"o" * 32).decode()
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/backup-store-test"
PART = 5 * 1024 * 1024
AZURE_KEY_SHA256 = "x-ms-encryption-key-sha256"


def md5_of(key: str) -> str:
    digest = hashlib.md5(base64.b64decode(key), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


@pytest.fixture
def proxy(s3_bucket: S3Bucket) -> Iterator[RecordingProxy]:
    with RecordingProxy(s3_bucket.endpoint, enforce_customer_keys=True).running() as running:
        yield running


@pytest.fixture
def proxied(s3_bucket: S3Bucket, proxy: RecordingProxy) -> S3Bucket:
    """The bucket, reached through the proxy."""
    return dataclasses.replace(s3_bucket, endpoint=proxy.endpoint)


def object_requests(proxy: RecordingProxy) -> list[tuple[str, str, dict[str, str]]]:
    """Requests that read or write an object's bytes (SSE-C applies to these):
    completing a multipart upload and deleting carry no key, as S3 wants."""
    out = []
    for r in proxy.requests:
        query = r.path.partition("?")[2]
        completes = "uploadId=" in query and "partNumber" not in query
        if not r.object_request or r.method == "DELETE" or completes:
            continue
        out.append((r.method, r.path, r.headers))
    return out


def test_sse_c_life_cycle_sends_the_key_with_every_object_request(
    proxied: S3Bucket, proxy: RecordingProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = s3_url(proxied, "enc", sse_customer_key=KEY, part_size=str(PART))
    contents = asyncio.run(save_sample_backups(url, tmp_path / "data"))  # big.log: multipart
    outputs = []
    for command in (["list"], ["status", "5"], ["verify", "--level", "checksum"],
                    ["analyze", "--blobs", "2"]):  # fmt: skip
        result = invoke(*command[:1], url, *command[1:])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    rebuilt = invoke("catalog", "rebuild", url)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert restore_bytes(url, A, tmp_path / "restored") == contents
    requests = object_requests(proxy)
    kinds = {(method, "partNumber" in path, "uploads" in path) for method, path, _ in requests}
    assert {("GET", False, False), ("HEAD", False, False), ("PUT", False, False),
            ("PUT", True, False), ("POST", False, True)} <= kinds  # fmt: skip
    without = [(m, p) for m, p, h in requests if h.get(KEY_MD5) != md5_of(KEY)]
    assert without == []
    paths = " ".join(p for _, p, _ in requests)
    for ours in (".backup-store.json", ".backup-store-catalog/", "backup-store-integrity.json"):
        assert ours in paths  # the marker, the catalog and integrity records too
    deleted = invoke("delete", url, "5", "--yes")
    assert deleted.exit_code == 0, deleted.output
    _, listing = invoke_json("list", url)
    assert [b["backupId"] for b in listing["backups"]] == [6]  # the FAILED one is kept
    assert KEY not in " ".join([*outputs, deleted.output, caplog.text])


def test_a_missing_or_wrong_key_is_a_clear_error_naming_the_setting(
    proxied: S3Bucket, tmp_path: Path
) -> None:
    url = s3_url(proxied, "enc", sse_customer_key=KEY)
    asyncio.run(save_sample_backups(url, tmp_path / "data", big=False))
    for command in (["list"], ["status", "5"], ["restore", "5", "--partition", "1", "--to",
                                                str(tmp_path / "out")]):  # fmt: skip
        missing = invoke(command[0], s3_url(proxied, "enc"), *command[1:])
        assert missing.exit_code != 0
        assert "encrypted with a customer-provided key (SSE-C) and none was given" in (
            missing.stderr
        ), missing.output
        assert "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_S3_SSECKEY" in missing.stderr
        assert "access denied" not in missing.stderr.lower()
        wrong = invoke(command[0], s3_url(proxied, "enc", sse_customer_key=OTHER_KEY), *command[1:])
        assert wrong.exit_code != 0
        assert "different customer-provided key (SSE-C)" in wrong.stderr, wrong.output
        for output in (missing.output, wrong.output):
            assert KEY not in output and OTHER_KEY not in output


def test_migrate_from_sse_c_to_plain_and_back_with_another_key(
    proxied: S3Bucket, tmp_path: Path
) -> None:
    encrypted = s3_url(proxied, "enc", sse_customer_key=KEY)
    plain = s3_url(proxied, "plain")
    again = s3_url(proxied, "again", sse_customer_key=OTHER_KEY)
    contents = asyncio.run(save_sample_backups(encrypted, tmp_path / "data", big=False))
    for source, target in ((encrypted, plain), (plain, again)):
        result, report = invoke_json("migrate", source, target, "--all")
        assert result.exit_code == 0, result.output
        assert (report["migrated"], report["failed"]) == (3, 0), report
        assert invoke("verify", target, "--level", "checksum").exit_code == 0
    assert restore_bytes(plain, B, tmp_path / "from-plain") == contents
    assert restore_bytes(again, B, tmp_path / "from-again") == contents
    wrong = invoke("list", s3_url(proxied, "again", sse_customer_key=KEY))
    assert wrong.exit_code != 0 and "different customer-provided key" in wrong.stderr
    keyed_plain = invoke("list", s3_url(proxied, "plain", sse_customer_key=KEY))
    assert "not encrypted with a customer-provided key" in keyed_plain.stderr


def test_sse_kms_life_cycle_stores_the_key_id_on_every_object(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    with RecordingProxy(s3_bucket.endpoint).running() as proxy:
        bucket = dataclasses.replace(s3_bucket, endpoint=proxy.endpoint)
        url = s3_url(bucket, "kms", server_side_encryption="aws:kms", sse_kms_key_id=KMS_KEY,
                     sse_bucket_key_enabled="true", part_size=str(PART))  # fmt: skip
        contents = asyncio.run(save_sample_backups(url, tmp_path / "data"))
        assert invoke("verify", url, "--level", "checksum").exit_code == 0
        assert restore_bytes(url, A, tmp_path / "restored") == contents
        writes = [
            r
            for r in proxy.requests
            if r.object_request
            and ((r.method == "PUT" and "partNumber" not in r.path) or "uploads" in r.path)
        ]
        assert writes
        assert all(r.headers.get("x-amz-server-side-encryption") == "aws:kms" for r in writes)
        assert all(
            r.headers.get("x-amz-server-side-encryption-aws-kms-key-id") == KMS_KEY for r in writes
        )
        assert all(
            r.headers.get("x-amz-server-side-encryption-bucket-key-enabled") == "true"
            for r in writes
        )
    client = boto3.client(
        "s3", endpoint_url=s3_bucket.endpoint, region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY_ID, aws_secret_access_key=S3_SECRET_ACCESS_KEY,
    )  # fmt: skip
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]]
    assert any("/contents/" in k or "manifest" in k for k in keys)
    for key in keys:  # data, manifests, integrity records, catalog, marker: all KMS
        head = client.head_object(Bucket=s3_bucket.name, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY), key
    deleted = invoke("delete", s3_url(s3_bucket, "kms"), "5", "--yes")
    assert deleted.exit_code == 0, deleted.output


def test_s3_declares_it_copies_sse_c_objects_and_obstore_sends_the_source_key(
    proxied: S3Bucket, proxy: RecordingProxy
) -> None:
    store = S3BackupStore(s3_config(proxied, sse_customer_key=KEY))
    assert isinstance(store.io, ObstoreIO) and store.io.customer_key
    assert store.io.capabilities.copies_customer_key_objects
    raw = store.io.store
    obstore.put(raw, "source", b"bytes")
    obstore.copy(raw, "source", "copied")  # the proxy refuses a copy without the source key
    assert bytes(obstore.get(raw, "copied").bytes()) == b"bytes"
    [copy] = [r for r in proxy.requests if "x-amz-copy-source" in r.headers]
    assert copy.headers[COPY_SOURCE_KEY_MD5] == copy.headers[KEY_MD5] == md5_of(KEY)


def test_azure_does_not_declare_copies_of_customer_key_blobs() -> None:
    from obstore.store import AzureStore

    from backup_store.io.capabilities import capabilities_of

    config = AzureConfig.model_validate(
        {"container": "c", "account_name": "a", "account_key": "eA==", "encryption_key": KEY}
    )
    assert not capabilities_of(config.open_obstore("Azure", AzureStore)).copies_customer_key_objects


def test_a_store_that_cannot_copy_customer_key_objects_is_never_asked_to() -> None:
    # An incremental save copies only where the seam says a copy of such an object works.
    from backup_store.io.capabilities import Capabilities

    copies = Capabilities(True, True, True, True, server_side_copy=True)
    assert copies.can_copy(10)
    assert not copies.can_copy(10, customer_key=True)
    assert Capabilities(
        True, True, True, True, server_side_copy=True, copies_customer_key_objects=True
    ).can_copy(10, customer_key=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sse_customer_key": "not base64!"}, "SSE-C key must be valid base64."),
        ({"sse_customer_key": base64.b64encode(b"x" * 16).decode()},
         "SSE-C key must decode to exactly 32 bytes (AES-256) but was 16 bytes."),
        ({"server_side_encryption": "sse-c"},
         "server_side_encryption=sse-c needs sse_customer_key"),
        ({"sse_kms_key_id": KMS_KEY}, "sse_kms_key_id needs server_side_encryption=aws:kms"),
        ({"sse_customer_key": KEY, "server_side_encryption": "aws:kms"},
         "sse_customer_key cannot be combined with server_side_encryption=aws:kms"),
    ],
)  # fmt: skip
def test_bad_encryption_settings_are_refused_by_name(
    s3_bucket: S3Bucket, options: dict[str, str], message: str
) -> None:
    result = invoke("list", s3_url(s3_bucket, **options))
    assert result.exit_code == 2
    assert message in result.stderr


def test_keys_never_appear_in_reprs_errors_or_config(s3_bucket: S3Bucket) -> None:
    config = S3Config.model_validate({"bucket": s3_bucket.name, "sse_customer_key": KEY})
    azure = AzureConfig.model_validate({"container": "c", "encryption_key": KEY})
    for shown in (repr(config), str(config), repr(azure), repr(S3BackupStore(config))):
        assert KEY not in shown
    error = translate_error(
        obstore.exceptions.GenericError(f"x-amz-server-side-encryption-customer-key: {KEY}"),
        store="s3://b", key="k",
    )  # fmt: skip
    assert KEY not in str(error) and KEY not in repr(error)
    refusal = "sse_customer_key: Value error, SSE-C key must be valid base64."
    assert scrub(refusal) == refusal  # the reason stays readable
    env = {
        "ZEEBE_BROKER_DATA_BACKUP_STORE": "S3",
        "ZEEBE_BROKER_DATA_BACKUP_S3_BUCKETNAME": s3_bucket.name,
        "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_S3_SSECKEY": KEY,
    }
    shown_config = invoke_with_env(["config", "--json"], env)
    assert KEY not in shown_config
    assert '"CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_S3_SSECKEY": "***"' in shown_config
    url_config = invoke_with_env(
        ["config"], {"BACKUP_STORE_URL": s3_url(s3_bucket, sse_customer_key=KEY)}
    )
    assert KEY not in url_config


def invoke_with_env(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "prefix", ["ZEEBE_BROKER_DATA_BACKUP_", "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_"]
)
def test_the_sseckey_variable_configures_the_key(
    proxied: S3Bucket, tmp_path: Path, prefix: str
) -> None:
    asyncio.run(
        save_sample_backups(s3_url(proxied, "enc", sse_customer_key=KEY), tmp_path, big=False)
    )
    env = {
        f"{prefix}STORE": "S3",
        f"{prefix}S3_BUCKETNAME": proxied.name,
        f"{prefix}S3_ENDPOINT": proxied.endpoint,
        f"{prefix}S3_REGION": S3_REGION,
        f"{prefix}S3_ACCESSKEY": S3_ACCESS_KEY_ID,
        f"{prefix}S3_SECRETKEY": S3_SECRET_ACCESS_KEY,
        f"{prefix}S3_FORCEPATHSTYLEACCESS": "true",
        f"{prefix}S3_BASEPATH": "enc",
    }
    listed = CliRunner().invoke(main, ["list", "--json"], env=env, catch_exceptions=False)
    assert listed.exit_code != 0 and "SSECKEY" in listed.stderr  # read without the key
    listed = CliRunner().invoke(
        main, ["list", "--json"], env={**env, f"{prefix}S3_SSECKEY": KEY}, catch_exceptions=False
    )
    assert listed.exit_code == 0, listed.output
    assert {b["backupId"] for b in json.loads(listed.stdout)["backups"]} == {5, 6}
    bad = CliRunner().invoke(main, ["list"], env={**env, f"{prefix}S3_SSECKEY": "c2hvcnQ="})
    assert bad.exit_code == 2
    assert "SSE-C key must decode to exactly 32 bytes (AES-256) but was 5 bytes." in bad.stderr


def refused(method: str, status: str, body: str) -> obstore.exceptions.GenericError:
    return obstore.exceptions.GenericError(
        f"Generic error: Error performing {method} http://h/b/k in 1ms - Server returned "
        f"non-2xx status code: {status}: {body}"
    )


def translated(error: Exception, *, customer_key: bool) -> str | None:
    """The message when the translation is a :class:`CustomerKeyError`, else None."""
    result = translate_error(error, store="s3://b", key="k", customer_key=customer_key)
    return result.message if isinstance(result, CustomerKeyError) else None


def test_translation_reads_the_services_answers() -> None:
    # S3: a HEAD of an SSE-C object without the key is a bare 400; with a key, a bare
    # 400 is something else.
    assert "none was given" in str(
        translated(refused("HEAD", "400 Bad Request", ""), customer_key=False)
    )
    assert translated(refused("HEAD", "400 Bad Request", ""), customer_key=True) is None
    denied = refused("GET", "403 Forbidden", "<Error><Code>AccessDenied</Code></Error>")
    assert "different customer-provided key" in str(translated(denied, customer_key=True))
    assert translated(denied, customer_key=False) is None  # no key: a plain refusal
    signature = refused("GET", "403 Forbidden", "<Error><Code>SignatureDoesNotMatch</Code></Error>")
    assert translated(signature, customer_key=True) is None  # the credentials' error
    # Azure's answers name the customer key in their error codes.
    missing = refused(
        "GET", "409 Conflict", "<Error><Code>BlobUsesCustomerSpecifiedEncryption</Code></Error>"
    )
    assert "encryption_key" in str(translated(missing, customer_key=False))
    azure_denied = refused(
        "GET", "403 Forbidden", "<Error><Code>AuthenticationFailed</Code></Error>"
    )
    assert translated(azure_denied, customer_key=True) is None


def test_azure_customer_key_is_sent_with_every_blob_request(
    azure_container: AzureContainer, tmp_path: Path
) -> None:
    # Azurite takes the customer-key headers and ignores them (it serves such a blob
    # without the key): the proxy counts them on every blob read and write.
    with RecordingProxy(azure_container.account_url).running() as proxy:
        through = dataclasses.replace(
            azure_container, account_url=f"{proxy.endpoint}/{AZURITE_ACCOUNT}"
        )
        url = azure_url(through) + "&" + urlencode({"encryption_key": KEY})
        contents = asyncio.run(save_sample_backups(url, tmp_path / "data", big=False))
        assert invoke("verify", url, "--level", "checksum").exit_code == 0
        assert restore_bytes(url, A, tmp_path / "restored") == contents
        assert invoke("delete", url, "5", "--yes").exit_code == 0
    blob_requests = [
        r
        for r in proxy.requests
        if r.method in ("GET", "HEAD", "PUT") and "restype=container" not in r.path
    ]
    assert {r.method for r in blob_requests} == {"GET", "HEAD", "PUT"}
    sha256 = base64.b64encode(hashlib.sha256(base64.b64decode(KEY)).digest()).decode()
    unkeyed = [
        (r.method, r.path) for r in blob_requests if r.headers.get(AZURE_KEY_SHA256) != sha256
    ]
    assert unkeyed == []
