"""The emulator harness: each emulator through obstore, the GCS XML adapter on its own."""

from __future__ import annotations

import hashlib
import random
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import obstore
import pytest
import pytest_asyncio
from obstore.exceptions import AlreadyExistsError, GenericError, PreconditionError

from backup_store import exit_guard
from testbed import exit_abort_repro
from testbed.emulators import (
    AZURITE_ACCOUNT,
    AzureContainer,
    AzureEmulator,
    EmulatedBucket,
    EmulatorInstallError,
    GcsBucket,
    GcsEmulator,
    S3Bucket,
    S3Emulator,
    signed_request,
    unique_bucket_name,
)
from testbed.emulators.gcs_adapter import GcsXmlAdapter
from testbed.emulators.install import azurite_blob_bin, ensure_azurite, fake_gcs_server_binary

if TYPE_CHECKING:
    from obstore import PutResult, UpdateVersion
    from obstore.store import ObjectStore

MIB = 1024 * 1024
CHUNK = 5 * MIB


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def _chunks(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _update_version(result: PutResult) -> UpdateVersion:
    mode: UpdateVersion = {}
    if result["e_tag"] is not None:
        mode["e_tag"] = result["e_tag"]
    if result["version"] is not None:
        mode["version"] = result["version"]
    return mode


async def _read_all(store: ObjectStore, path: str) -> bytes:
    result = await obstore.get_async(store, path)
    buf = bytearray()
    async for chunk in result.stream(min_chunk_size=MIB):
        buf += chunk
    return bytes(buf)


# -- every backend through obstore ---------------------------------------------------------


@pytest.mark.asyncio
async def test_bucket_is_fresh_and_empty(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    assert await obstore.list(store).collect_async() == []
    assert emulated_bucket.name.startswith("t-test-bucket-is-fresh")


@pytest.mark.asyncio
async def test_create_only_put(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    await obstore.put_async(store, "k/create", b"first", mode="create")
    with pytest.raises(AlreadyExistsError):
        await obstore.put_async(store, "k/create", b"second", mode="create")
    assert await _read_all(store, "k/create") == b"first"


@pytest.mark.asyncio
async def test_conditional_update(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    first = await obstore.put_async(store, "k/update", b"v1")
    head = await obstore.head_async(store, "k/update")
    assert head["e_tag"] == first["e_tag"]
    # Pass both: S3 and Azure match on e_tag, GCS on version (the generation). obstore
    # rejects None values in the mode dict (TypeError), so leave out what is missing.
    mode = _update_version(first)
    second = await obstore.put_async(store, "k/update", b"v2", mode=mode)
    assert second["e_tag"] != first["e_tag"]
    with pytest.raises(PreconditionError):
        await obstore.put_async(store, "k/update", b"v3", mode=mode)
    assert await _read_all(store, "k/update") == b"v2"


@pytest.mark.asyncio
async def test_conditional_update_by_e_tag_alone(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    first = await obstore.put_async(store, "k/etag", b"v1")
    if emulated_bucket.kind == "gcs":
        # obstore's GCS client needs the generation; it refuses before sending anything.
        with pytest.raises(GenericError, match="Version required"):
            await obstore.put_async(store, "k/etag", b"v2", mode={"e_tag": first["e_tag"]})
        return
    await obstore.put_async(store, "k/etag", b"v2", mode={"e_tag": first["e_tag"]})
    with pytest.raises(PreconditionError):
        await obstore.put_async(store, "k/etag", b"v3", mode={"e_tag": first["e_tag"]})


@pytest.mark.asyncio
async def test_multipart_upload(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    data = _data(2 * CHUNK + 3 * MIB + 17)  # > 10 MiB: three parts
    result = await obstore.put_async(store, "big/object", _chunks(data), chunk_size=CHUNK)
    assert result["e_tag"]
    meta = await obstore.head_async(store, "big/object")
    assert meta["size"] == len(data)
    assert meta["e_tag"] == result["e_tag"]
    read = await _read_all(store, "big/object")
    assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()
    ranged = await obstore.get_range_async(store, "big/object", start=CHUNK - 5, end=CHUNK + 5)
    assert bytes(ranged) == data[CHUNK - 5 : CHUNK + 5]


@pytest.mark.asyncio
async def test_large_create_only_put(emulated_bucket: EmulatedBucket) -> None:
    # With a mode other than overwrite obstore sends one (buffered) PUT, not a multipart.
    store = emulated_bucket.store()
    data = _data(11 * MIB, seed=1)
    await obstore.put_async(store, "big/create", _chunks(data), chunk_size=CHUNK, mode="create")
    with pytest.raises(AlreadyExistsError):
        await obstore.put_async(store, "big/create", _chunks(data), chunk_size=CHUNK, mode="create")
    assert await _read_all(store, "big/create") == data


@pytest.mark.asyncio
async def test_list_with_prefix(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    for key in ("p/a", "p/sub/b", "q/c", "pp/d", "top"):
        await obstore.put_async(store, key, key.encode())
    listed = sorted(m["path"] for m in await obstore.list(store, prefix="p").collect_async())
    # obstore prefixes are whole path segments: "p" matches "p/..." but not "pp/...".
    assert listed == ["p/a", "p/sub/b"]
    everything = sorted(m["path"] for m in await obstore.list(store).collect_async())
    assert everything == ["p/a", "p/sub/b", "pp/d", "q/c", "top"]
    tree = await obstore.list_with_delimiter_async(store, prefix="p")
    assert tree["common_prefixes"] == ["p/sub"]
    assert [m["path"] for m in tree["objects"]] == ["p/a"]


@pytest.mark.asyncio
async def test_batch_delete(emulated_bucket: EmulatedBucket) -> None:
    store = emulated_bucket.store()
    keys = [f"del/{i:03d}" for i in range(25)]
    for key in keys:
        await obstore.put_async(store, key, b"x")
    await obstore.put_async(store, "keep", b"y")
    await obstore.delete_async(store, keys)
    remaining = [m["path"] for m in await obstore.list(store).collect_async()]
    assert remaining == ["keep"]
    # obstore raises the builtin FileNotFoundError (not obstore.exceptions.NotFoundError).
    with pytest.raises(FileNotFoundError):
        await obstore.head_async(store, "del/000")


def test_store_kwargs_are_plain_obstore_config(emulated_bucket: EmulatedBucket) -> None:
    from obstore.store import from_url

    bucket = emulated_bucket
    # What a library would do with its own configuration: build the store from the keys.
    config = dict(bucket.config)
    config.pop({"s3": "bucket", "azure": "container_name", "gcs": "bucket"}[bucket.kind])
    store = from_url(bucket.url, config=cast(Any, config), client_options=bucket.client_options)
    obstore.put(store, "via-url", b"1")
    assert bytes(obstore.get(bucket.store(), "via-url").bytes()) == b"1"


# -- harness -------------------------------------------------------------------------------


def test_unique_bucket_names() -> None:
    names = {unique_bucket_name("Test Something[param-1]") for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert 3 <= len(name) <= 63
        assert name.startswith("t-test-something-param-1-")
        assert all(c.isdigit() or c.islower() or c == "-" for c in name)
    long = unique_bucket_name("x" * 200)
    assert len(long) <= 63


def test_each_test_gets_its_own_bucket(
    s3_bucket: S3Bucket, azure_container: AzureContainer, gcs_bucket: GcsBucket
) -> None:
    assert len({s3_bucket.name, azure_container.name, gcs_bucket.name}) == 3
    assert azure_container.config["endpoint"].endswith(f"/{AZURITE_ACCOUNT}")
    assert gcs_bucket.config["bucket"] == gcs_bucket.name


def test_emulator_lifecycle() -> None:
    emulator = S3Emulator()
    with emulator:
        port = httpx.URL(emulator.endpoint).port
        assert port is not None
        bucket = emulator.create_bucket()
        obstore.put(bucket.store(), "a", b"1")
    assert not emulator.started
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    emulator.stop()  # idempotent


def test_install_is_idempotent() -> None:
    assert ensure_azurite() == azurite_blob_bin()
    assert azurite_blob_bin().exists()
    assert fake_gcs_server_binary().is_file()


def test_missing_node_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.emulators import install

    monkeypatch.setattr(install, "_azurite_ready", lambda: False)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(EmulatorInstallError, match=r"Node\.js"):
        install.ensure_azurite()


def test_azure_shared_key_is_really_checked(azure_emulator: AzureEmulator) -> None:
    url = f"{azure_emulator.account_url}/{unique_bucket_name('wrong-key')}?restype=container"
    wrong = signed_request("PUT", url, key="d3Jvbmcta2V5")  # base64 of "wrong-key"
    assert wrong.status_code == 403
    assert signed_request("PUT", url).status_code == 201
    listing = signed_request("GET", f"{azure_emulator.account_url}?comp=list")
    assert listing.status_code == 200


# -- the GCS XML adapter on its own --------------------------------------------------------


@pytest.fixture
def raw_gcs_bucket(gcs_emulator: GcsEmulator) -> Iterator[GcsBucket]:
    yield gcs_emulator.create_bucket(unique_bucket_name("adapter"))


@pytest_asyncio.fixture
async def adapter(gcs_emulator: GcsEmulator, tmp_path: Path) -> AsyncIterator[GcsXmlAdapter]:
    """A second adapter, served in this process, with its spool directory under tmp_path."""
    instance = GcsXmlAdapter(gcs_emulator.emulator_url, spool_dir=tmp_path / "spool")
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest_asyncio.fixture
async def client(adapter: GcsXmlAdapter) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=adapter.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://adapter", timeout=60
    ) as http:
        yield http


def _xml(text: str) -> dict[str, str]:
    root = ET.fromstring(text)  # noqa: S314 - our own adapter's answer
    return {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in root}


def test_emulator_itself_rejects_xml_uploads(gcs_emulator: GcsEmulator) -> None:
    """Why the adapter exists; if this starts failing the emulator learned XML writes."""
    bucket = gcs_emulator.create_bucket()
    response = httpx.put(f"{gcs_emulator.emulator_url}/{bucket.name}/k", content=b"x")
    assert response.status_code == 400


@pytest.mark.asyncio
async def test_adapter_put_and_preconditions(
    client: httpx.AsyncClient, raw_gcs_bucket: GcsBucket
) -> None:
    url = f"/{raw_gcs_bucket.name}/dir%2Fkey"
    created = await client.put(
        url,
        content=b"hello",
        headers={
            "x-goog-if-generation-match": "0",
            "content-type": "text/plain",
            "x-goog-meta-owner": "tests",
        },
    )
    assert created.status_code == 200, created.text
    generation = created.headers["x-goog-generation"]
    etag = created.headers["etag"]
    again = await client.put(url, content=b"x", headers={"x-goog-if-generation-match": "0"})
    assert again.status_code == 412
    assert _xml(again.text)["Code"] == "PreconditionFailed"

    fetched = await client.get(url)  # forwarded to the emulator unchanged
    assert fetched.content == b"hello"
    assert fetched.headers["etag"] == etag
    assert fetched.headers["x-goog-generation"] == generation
    head = await client.head(url)
    assert head.headers["content-length"] == "5"

    # JSON-API calls are forwarded too.
    meta = await client.get(f"/storage/v1/b/{raw_gcs_bucket.name}/o/dir%2Fkey")
    assert meta.json()["contentType"] == "text/plain"
    assert meta.json()["metadata"] == {"owner": "tests"}

    updated = await client.put(
        url, content=b"v2", headers={"x-goog-if-generation-match": generation}
    )
    assert updated.status_code == 200
    stale = await client.put(url, content=b"v3", headers={"x-goog-if-generation-match": generation})
    assert stale.status_code == 412

    async def chunked_body() -> AsyncIterator[bytes]:
        yield b"chunked "
        yield b"body"

    chunked = await client.put(f"/{raw_gcs_bucket.name}/chunked", content=chunked_body())
    assert chunked.status_code == 200
    assert (await client.get(f"/{raw_gcs_bucket.name}/chunked")).content == b"chunked body"

    missing = await client.put("/no-such-bucket-here/k", content=b"x")
    assert missing.status_code == 404


@pytest.mark.asyncio
async def test_adapter_multipart(
    client: httpx.AsyncClient, adapter: GcsXmlAdapter, raw_gcs_bucket: GcsBucket
) -> None:
    url = f"/{raw_gcs_bucket.name}/multi%2Fpart"
    init = await client.post(url, params={"uploads": ""}, headers={"content-type": "app/x"})
    assert init.status_code == 200
    upload_id = _xml(init.text)["UploadId"]
    parts = [_data(CHUNK, seed=i) for i in range(3)]
    etags: dict[int, str] = {}
    for number in (3, 1, 2):  # any order, like obstore's concurrent part uploads
        response = await client.put(
            url,
            params={"partNumber": str(number), "uploadId": upload_id},
            content=parts[number - 1],
        )
        assert response.status_code == 200
        etags[number] = response.headers["etag"]
    assert len(list(adapter.spool_dir.rglob("part-*"))) == 3  # spooled on disk

    bad = "".join(
        f'<Part><PartNumber>{n}</PartNumber><ETag>"nope"</ETag></Part>' for n in (1, 2, 3)
    )
    rejected = await client.post(
        url,
        params={"uploadId": upload_id},
        content=f"<CompleteMultipartUpload>{bad}</CompleteMultipartUpload>",
    )
    assert rejected.status_code == 400

    body = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>" for n in (1, 2, 3)
    )
    done = await client.post(
        url,
        params={"uploadId": upload_id},
        content=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>",
    )
    assert done.status_code == 200, done.text
    assert done.headers["x-goog-generation"]
    assert _xml(done.text)["ETag"] == done.headers["etag"]
    fetched = await client.get(url)
    assert fetched.content == b"".join(parts)
    assert fetched.headers["content-type"] == "app/x"
    assert list(adapter.spool_dir.iterdir()) == []  # parts removed

    again = await client.post(url, params={"uploadId": upload_id}, content=body)
    assert again.status_code == 404  # upload is gone

    init = await client.post(url, params={"uploads": ""})
    upload_id = _xml(init.text)["UploadId"]
    await client.put(url, params={"partNumber": "1", "uploadId": upload_id}, content=b"abc")
    aborted = await client.delete(url, params={"uploadId": upload_id})
    assert aborted.status_code == 204
    assert list(adapter.spool_dir.iterdir()) == []
    assert (await client.get(url)).content == b"".join(parts)  # object untouched

    missing_bucket = await client.post("/no-such-bucket-here/k", params={"uploads": ""})
    assert missing_bucket.status_code == 404


@pytest.mark.asyncio
async def test_adapter_copies_with_the_json_api(
    client: httpx.AsyncClient, raw_gcs_bucket: GcsBucket
) -> None:
    """obstore's copy (an XML PUT with ``x-goog-copy-source``) becomes ``copyTo``;
    a missing source answers 404 NoSuchKey."""
    name = raw_gcs_bucket.name
    await client.put(f"/{name}/a%2Fsrc", content=b"data")
    copied = await client.put(f"/{name}/b%2Fdst", headers={"x-goog-copy-source": f"{name}/a%2Fsrc"})
    assert copied.status_code == 200
    assert copied.headers["x-goog-generation"]
    assert (await client.get(f"/{name}/b%2Fdst")).content == b"data"
    missing = await client.put(f"/{name}/c", headers={"x-goog-copy-source": f"{name}/gone"})
    assert missing.status_code == 404
    assert _xml(missing.text)["Code"] == "NoSuchKey"
    assert (await client.get(f"/{name}/c")).status_code == 404


@pytest.mark.asyncio
async def test_adapter_forwards_everything_else(
    client: httpx.AsyncClient, raw_gcs_bucket: GcsBucket
) -> None:
    name = raw_gcs_bucket.name
    for key in ("a/1", "a/2", "b/3"):
        await client.put(f"/{name}/{key.replace('/', '%2F')}", content=b"x")
    listing = await client.get(f"/{name}", params={"list-type": "2", "prefix": "a/"})
    assert listing.status_code == 200
    assert listing.text.count("<Key>") == 2
    assert (await client.delete(f"/{name}/a%2F1")).status_code in (200, 204)
    assert (await client.get(f"/{name}/a%2F1")).status_code == 404
    json_api = await client.get(f"/storage/v1/b/{name}/o")
    assert {item["name"] for item in json_api.json()["items"]} == {"a/2", "b/3"}
    ranged = await client.get(f"/{name}/b%2F3", headers={"range": "bytes=0-0"})
    assert ranged.status_code == 206


# -- exit guard ----------------------------------------------------------------------------


def test_exit_guard_returns_when_idle() -> None:
    assert exit_guard.wait_for_foreign_threads(timeout=2.0, quiet=0.02)


def test_exit_guard_prevents_abort_after_async_reads() -> None:
    """Child interpreters doing obstore async reads then exiting: none may abort (134)."""
    assert exit_abort_repro.main(["--runs", "8", "--scenario", "gather", "--guard", "atexit"]) == 0
