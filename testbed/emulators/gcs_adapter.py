"""A small Starlette app that lets obstore's ``GCSStore`` write to fake-gcs-server.

obstore speaks the GCS *XML* API. fake-gcs-server serves its reads, listings and
deletes, but answers ``400 invalid uploadType`` to every XML write. Its JSON-API
``uploadType=multipart`` upload works and honours ``ifGenerationMatch``. So this app
forwards every request unchanged except the XML writes obstore makes, which it
performs as JSON multipart uploads:

=====================================================  ===================================
XML request from obstore                               done as
=====================================================  ===================================
``PUT /<b>/<key>`` (+ ``x-goog-if-generation-match``)  one upload (+ ``ifGenerationMatch``)
``POST /<b>/<key>?uploads``                            new upload id; parts spool to disk
``PUT /<b>/<key>?partNumber=N&uploadId=U``             part written to a file
``POST /<b>/<key>?uploadId=U`` (part list XML)         the parts, concatenated, uploaded
``DELETE /<b>/<key>?uploadId=U``                       part files removed
``PUT /<b>/<key>`` + ``x-goog-copy-source: <b>/<src>``  ``POST .../o/<src>/copyTo/b/<b>/o/<key>``
=====================================================  ===================================

Answers follow the XML API: ``ETag`` (the emulator's, as its XML ``GET`` returns it)
and ``x-goog-generation``; ``412 PreconditionFailed`` when a generation precondition
fails, which obstore maps to ``AlreadyExistsError`` for create-only writes (it sends
``x-goog-if-generation-match: 0``) and to ``PreconditionError`` for version-matched
ones. A server-side copy (obstore's ``copy``) becomes the JSON API's ``copyTo``: 404
``NoSuchKey`` when the source is missing.

Test infrastructure: one process per test session (``python gcs_adapter.py --upstream
http://127.0.0.1:<emulator port> --port <port>``, served by uvicorn), localhost only.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import aiofiles
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

HEALTH_PATH = "/_gcs_adapter/health"
CHUNK = 1024 * 1024
JSON_API_PREFIXES = ("/storage/", "/upload/", "/download/", "/batch/", "/_internal/")
# Never copied between the client's and the emulator's connections.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host", "expect"}
)
# XML write headers carried over to the stored object.
ATTRIBUTE_HEADERS = {
    "content-type": "contentType",
    "content-encoding": "contentEncoding",
    "content-disposition": "contentDisposition",
    "content-language": "contentLanguage",
    "cache-control": "cacheControl",
}
META_PREFIX = "x-goog-meta-"


class XmlError(Exception):
    """An XML-API error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        body = f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
        return xml_response(self.status, body + "</Error>")


@dataclass
class Upload:
    """An XML multipart upload in progress; its parts live in ``directory``."""

    upload_id: str
    bucket: str
    key: str
    directory: Path
    metadata: dict[str, Any]
    parts: dict[int, tuple[Path, str]] = field(default_factory=dict)  # number -> (file, etag)


def xml_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    payload = '<?xml version="1.0" encoding="UTF-8"?>\n' + body
    return Response(payload, status, headers, media_type="application/xml")


_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.DOTALL)
_KEY = re.compile(rb"<Key>(.*?)</Key>", re.DOTALL)


def keys_after(listing: bytes, start_after: str) -> bytes:
    """An XML listing without the keys up to ``start_after``."""

    def keep(match: re.Match[bytes]) -> bytes:
        key = _KEY.search(match[0])
        name = html.unescape(key[1].decode()) if key else ""
        return match[0] if name > start_after else b""

    return bytes(_CONTENTS.sub(keep, listing))


def parse_complete_body(body: bytes) -> list[tuple[int, str]]:
    """(part number, etag) pairs of a ``CompleteMultipartUpload`` document."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - obstore's own request, localhost test adapter
    except ET.ParseError as exc:
        raise XmlError(400, "MalformedXML", str(exc)) from exc
    parts = []
    for part in root:
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in part}
        try:
            parts.append((int(fields["PartNumber"]), fields.get("ETag", "")))
        except (KeyError, ValueError) as exc:
            raise XmlError(400, "MalformedXML", f"bad Part element: {fields}") from exc
    return parts


def object_metadata(request: Request, key: str) -> dict[str, Any]:
    """The JSON-API object resource an XML write's headers describe."""
    metadata: dict[str, Any] = {"name": key, "contentType": "application/octet-stream"}
    custom = {}
    for name, value in request.headers.items():
        if name in ATTRIBUTE_HEADERS:
            metadata[ATTRIBUTE_HEADERS[name]] = value
        elif name.startswith(META_PREFIX):
            custom[name[len(META_PREFIX) :]] = value
    if custom:
        metadata["metadata"] = custom
    return metadata


def generation_match(request: Request) -> str | None:
    if request.headers.get("if-none-match") == "*":
        return "0"
    return request.headers.get("x-goog-if-generation-match")


def write_headers(obj: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{obj["etag"]}"', "x-goog-generation": str(obj["generation"])}


async def spool(chunks: AsyncIterator[bytes], path: Path) -> str:
    """Write ``chunks`` to ``path``; their MD5 (hex), the part's ETag."""
    md5 = hashlib.md5()  # noqa: S324 - an ETag, not security
    async with aiofiles.open(path, "wb") as out:
        async for chunk in chunks:
            md5.update(chunk)
            await out.write(chunk)
    return md5.hexdigest()


async def read_files(files: Sequence[Path]) -> AsyncIterator[bytes]:
    for path in files:
        async with aiofiles.open(path, "rb") as source:
            while chunk := await source.read(CHUNK):
                yield chunk


class GcsXmlAdapter:
    """The adapter: :attr:`app` is the ASGI app; the emulator client lives from
    :meth:`start` to :meth:`stop` (the app's lifespan does both)."""

    def __init__(self, upstream: str, *, spool_dir: Path | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self._own_spool = spool_dir is None
        self.spool_dir = spool_dir or Path(tempfile.mkdtemp(prefix="gcs-adapter-"))
        self._uploads: dict[str, Upload] = {}
        self._client: httpx.AsyncClient | None = None
        methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"]
        self.app = Starlette(
            routes=[
                Route(HEALTH_PATH, self.health),
                Route("/{path:path}", self.handle, methods=methods),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # The emulator is local: never through an HTTP(S)_PROXY.
        self._client = httpx.AsyncClient(
            base_url=self.upstream, timeout=httpx.Timeout(300.0, connect=10.0), trust_env=False
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        for upload in self._uploads.values():
            shutil.rmtree(upload.directory, ignore_errors=True)
        self._uploads.clear()
        if self._own_spool:
            shutil.rmtree(self.spool_dir, ignore_errors=True)

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "adapter not started"
        return self._client

    @staticmethod
    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def handle(self, request: Request) -> Response:
        """XML writes to an object are done here; everything else is forwarded."""
        path, query, method = request.scope["path"], request.query_params, request.method
        is_object = not path.startswith(JSON_API_PREFIXES) and path.strip("/").count("/") >= 1
        bucket, _, key = path.lstrip("/").partition("/")
        try:
            if (
                method == "GET"
                and not is_object
                and bucket
                and not path.startswith(JSON_API_PREFIXES)
            ):
                return await self.list_bucket(request, bucket)
            if not is_object or method not in ("PUT", "POST", "DELETE"):
                return await self.forward(request)
            if method == "PUT" and request.headers.get("x-goog-copy-source"):
                return await self.copy(request, bucket, key)
            if method == "PUT" and "uploadId" in query:
                return await self.put_part(request, self.upload_of(request, bucket, key))
            if method == "PUT":
                obj = await self.upload(
                    bucket, object_metadata(request, key), request.stream(),
                    request.headers.get("content-length"), generation_match(request),
                )  # fmt: skip
                return Response(status_code=200, headers=write_headers(obj))
            if method == "POST" and "uploads" in query:
                return await self.initiate(request, bucket, key)
            if method == "POST" and "uploadId" in query:
                return await self.complete(request, self.upload_of(request, bucket, key))
            if method == "DELETE" and "uploadId" in query:
                self.discard(self.upload_of(request, bucket, key))
                return Response(status_code=204)
            return await self.forward(request)
        except XmlError as error:
            return error.response()

    async def upstream_request(self, request: Request) -> httpx.Request:
        """The same request, addressed to the emulator."""
        target = request.scope["raw_path"].decode()
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode()
        headers = [
            (k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP | {"content-length"}
        ]
        body = await request.body()
        return self.client.build_request(
            request.method,
            httpx.URL(self.upstream + target),
            headers=headers,
            content=body if body or request.method in ("PUT", "POST", "PATCH") else None,
        )

    async def list_bucket(self, request: Request, bucket: str) -> Response:
        """A listing, as GCS answers it: 404 NoSuchBucket for a missing bucket (the
        emulator answers 500), and keys after ``start-after`` only (it ignores that)."""
        await self.bucket_must_exist(bucket)
        start_after = request.query_params.get("start-after")
        if start_after is None:
            return await self.forward(request)
        response = await self.client.send(await self.upstream_request(request))
        if response.status_code != 200:
            return Response(response.content, response.status_code)
        return Response(
            keys_after(response.content, start_after),
            headers={"content-type": response.headers.get("content-type", "application/xml")},
        )

    async def bucket_must_exist(self, bucket: str) -> None:
        found = await self.client.get(f"/storage/v1/b/{quote(bucket, safe='')}")
        if found.status_code == 404:
            raise XmlError(404, "NoSuchBucket", "The specified bucket does not exist.")
        self.json_or_error(found, bucket)

    async def forward(self, request: Request) -> Response:
        """Send the request to the emulator unchanged and stream its answer back."""
        upstream = await self.upstream_request(request)
        response = await self.client.send(upstream, stream=True)
        wanted = request.headers.get("if-match")
        # GCS answers a read of another version 412; the emulator ignores If-Match.
        if wanted and response.status_code in (200, 206) and response.headers.get("etag") != wanted:
            await response.aclose()
            raise XmlError(412, "PreconditionFailed", "the object's ETag is not the If-Match one")
        answer = [(k, v) for k, v in response.headers.multi_items() if k not in HOP_BY_HOP]
        streamed = StreamingResponse(
            response.aiter_raw(), response.status_code, background=BackgroundTask(response.aclose)
        )
        streamed.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer]
        return streamed

    async def upload(
        self,
        bucket: str,
        metadata: dict[str, Any],
        data: AsyncIterator[bytes],
        size: str | None,
        if_generation_match: str | None,
    ) -> dict[str, Any]:
        """Store ``data`` as one object with a JSON-API multipart upload (the upload kind
        whose ``ifGenerationMatch`` fake-gcs-server enforces), streamed."""
        boundary = f"adapter-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(metadata)}\r\n"
            f"--{boundary}\r\nContent-Type: {metadata['contentType']}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in data:
                yield chunk
            yield tail

        headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
        if size is not None:
            headers["Content-Length"] = str(len(head) + int(size) + len(tail))
        params = {"uploadType": "multipart"}
        if if_generation_match is not None:
            params["ifGenerationMatch"] = if_generation_match
        response = await self.client.post(
            f"/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params=params,
            headers=headers,
            content=body(),
        )
        return self.json_or_error(response, f"{bucket}/{metadata['name']}")

    @staticmethod
    def json_or_error(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code == 200:
            result: dict[str, Any] = response.json()
            return result
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        code = {412: "PreconditionFailed", 404: "NoSuchKey"}.get(response.status_code, "Error")
        raise XmlError(response.status_code, code, f"{what}: {message}")

    async def copy(self, request: Request, bucket: str, key: str) -> Response:
        """An XML copy (``x-goog-copy-source: <bucket>/<percent-encoded key>``) done
        with the JSON API's ``copyTo``."""
        source = unquote(request.headers["x-goog-copy-source"].lstrip("/"))
        source_bucket, _, source_key = source.partition("/")
        params = {}
        if (match := generation_match(request)) is not None:
            params["ifGenerationMatch"] = match
        response = await self.client.post(
            f"/storage/v1/b/{quote(source_bucket, safe='')}/o/{quote(source_key, safe='')}"
            f"/copyTo/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}",
            params=params,
        )
        obj = self.json_or_error(response, f"{source_bucket}/{source_key}")
        return xml_response(
            200,
            f"<CopyObjectResult><ETag>{escape(obj['etag'])}</ETag></CopyObjectResult>",
            write_headers(obj),
        )

    async def initiate(self, request: Request, bucket: str, key: str) -> Response:
        await self.bucket_must_exist(bucket)
        upload_id = uuid.uuid4().hex
        directory = self.spool_dir / upload_id
        directory.mkdir()
        self._uploads[upload_id] = Upload(
            upload_id, bucket, key, directory, object_metadata(request, key)
        )
        return xml_response(
            200,
            f"<InitiateMultipartUploadResult><Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>",
        )

    def upload_of(self, request: Request, bucket: str, key: str) -> Upload:
        upload = self._uploads.get(request.query_params["uploadId"])
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise XmlError(404, "NoSuchUpload", "unknown upload id")
        return upload

    def discard(self, upload: Upload) -> None:
        del self._uploads[upload.upload_id]
        shutil.rmtree(upload.directory, ignore_errors=True)

    async def put_part(self, request: Request, upload: Upload) -> Response:
        number = request.query_params.get("partNumber", "")
        if not number.isdigit() or not 1 <= int(number) <= 10000:
            raise XmlError(400, "InvalidArgument", f"part number {number!r}")
        path = upload.directory / f"part-{int(number):05d}"
        etag = f'"{await spool(request.stream(), path)}"'
        upload.parts[int(number)] = (path, etag)
        return Response(status_code=200, headers={"ETag": etag})

    async def complete(self, request: Request, upload: Upload) -> Response:
        files = []
        for number, etag in parse_complete_body(await request.body()):
            stored = upload.parts.get(number)
            if stored is None or (etag and etag.strip('"') != stored[1].strip('"')):
                raise XmlError(400, "InvalidPart", f"part {number} missing or etag mismatch")
            files.append(stored[0])
        if not files:
            raise XmlError(400, "MalformedXML", "no parts")
        size = str(sum(path.stat().st_size for path in files))
        obj = await self.upload(
            upload.bucket, upload.metadata, read_files(files), size, generation_match(request)
        )
        self.discard(upload)
        etag = escape(f'"{obj["etag"]}"')
        return xml_response(
            200,
            f"<CompleteMultipartUploadResult><Bucket>{escape(upload.bucket)}</Bucket>"
            f"<Key>{escape(upload.key)}</Key><ETag>{etag}</ETag>"
            "</CompleteMultipartUploadResult>",
            write_headers(obj),
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="fake-gcs-server base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    adapter = GcsXmlAdapter(args.upstream)
    uvicorn.run(adapter.app, host=args.host, port=args.port, log_level=args.log_level.lower())


if __name__ == "__main__":
    main()
