"""A small HTTP adapter that lets obstore's ``GCSStore`` write to fake-gcs-server.

Why it exists
-------------
obstore (Rust ``object_store``) speaks the GCS *XML* API. fake-gcs-server serves the XML
API's reads (``GET``/``HEAD`` object, ``GET /<bucket>?list-type=2``) and ``DELETE``, but
answers ``400 invalid uploadType`` to every XML write: object ``PUT``, the multipart
upload calls (``POST ?uploads``, ``PUT ?partNumber&uploadId``, ``POST ?uploadId``) and
copies (``PUT`` with ``x-goog-copy-source``). Its JSON-API ``uploadType=multipart``
upload works and, unlike ``uploadType=media`` and ``copyTo``/``rewriteTo`` in the
bundled version, honours ``ifGenerationMatch``.

This adapter sits in front of the emulator and forwards every request unchanged, except
those XML writes, which it performs through the JSON API:

=====================================================  ====================================
XML request from obstore                               done as
=====================================================  ====================================
``PUT /<b>/<key>`` (+ ``x-goog-if-generation-match``)  JSON multipart upload
                                                       (+ ``ifGenerationMatch``)
``POST /<b>/<key>?uploads``                            new upload id; parts spool to disk
``PUT /<b>/<key>?partNumber=N&uploadId=U``             part written to a temp file
``POST /<b>/<key>?uploadId=U`` (part list XML)         concatenated parts uploaded as one
``DELETE /<b>/<key>?uploadId=U``                       temp files removed
``PUT /<b>/<key>`` + ``x-goog-copy-source: <b>/<k>``   download source, upload (+ precond.)
=====================================================  ====================================

Answers follow the XML API: ``ETag`` (the emulator's quoted etag, the same value its XML
``GET`` returns) and ``x-goog-generation`` headers; ``412 PreconditionFailed`` when a
generation precondition fails. obstore maps 412 to ``PreconditionError`` and, for
``PutMode.Create`` (it sends ``x-goog-if-generation-match: 0``) and copy-if-not-exists,
to ``AlreadyExistsError``. An update (``mode={"e_tag": ..., "version": ...}``) sends
``x-goog-if-generation-match: <version>``: on GCS obstore needs ``version`` (the
generation); an ``e_tag`` alone fails client-side ("Version required for conditional
update").

The adapter is self-contained (standard library + httpx + aiofiles) and runs as
``python gcs_adapter.py --upstream http://127.0.0.1:<emulator port> --port <port>``. It is
test infrastructure: one process per test session, localhost only, no auth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import shutil
import signal
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

import aiofiles
import httpx

log = logging.getLogger("gcs_adapter")

HEALTH_PATH = "/_gcs_adapter/health"
CHUNK = 1024 * 1024
# Request bodies we forward unchanged (gets, lists, deletes, JSON-API calls) are small.
MAX_FORWARDED_BODY = 64 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
JSON_API_PREFIXES = ("/storage/", "/upload/", "/download/", "/batch/", "/_internal/")
# XML write headers carried over to the stored object.
ATTRIBUTE_HEADERS = {
    "content-type": "contentType",
    "content-encoding": "contentEncoding",
    "content-disposition": "contentDisposition",
    "content-language": "contentLanguage",
    "cache-control": "cacheControl",
}
META_PREFIX = "x-goog-meta-"


class HttpError(Exception):
    """An XML-API error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        return (self.header("connection") or "").lower() != "close"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@dataclass
class Upload:
    """An XML multipart upload in progress; its parts live in ``directory``."""

    bucket: str
    key: str
    directory: Path
    metadata: dict[str, Any]
    parts: dict[int, tuple[Path, str]] = field(default_factory=dict)  # number -> (file, etag)


def xml_response(status: int, body: str, extra: Sequence[tuple[str, str]] = ()) -> Response:
    payload = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
    return Response(status, [("Content-Type", "application/xml"), *extra], payload)


def error_response(error: HttpError) -> Response:
    return xml_response(
        error.status,
        f"<Error><Code>{escape(error.code)}</Code>"
        f"<Message>{escape(error.message)}</Message></Error>",
    )


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_complete_body(body: bytes) -> list[tuple[int, str]]:
    """(part number, etag) pairs of a ``CompleteMultipartUpload`` document."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - obstore's own request, localhost test adapter
    except ET.ParseError as exc:
        raise HttpError(400, "MalformedXML", str(exc)) from exc
    parts: list[tuple[int, str]] = []
    for part in root:
        if _local_name(part.tag) != "Part":
            continue
        fields = {_local_name(child.tag): (child.text or "").strip() for child in part}
        try:
            parts.append((int(fields["PartNumber"]), fields.get("ETag", "")))
        except (KeyError, ValueError) as exc:
            raise HttpError(400, "MalformedXML", f"bad Part element: {fields}") from exc
    return parts


class GcsXmlAdapter:
    """The adapter server. ``await start()``, then ``url``; ``await stop()`` at the end."""

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        spool_dir: Path | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = port
        self._own_spool = spool_dir is None
        self.spool_dir = spool_dir or Path(tempfile.mkdtemp(prefix="gcs-adapter-"))
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._uploads: dict[str, Upload] = {}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._client = httpx.AsyncClient(
            base_url=self.upstream,
            timeout=httpx.Timeout(300.0, connect=10.0),
            trust_env=False,  # the emulator is local: never via an HTTP(S)_PROXY
        )
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=CHUNK
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("gcs adapter on %s -> %s (spool %s)", self.url, self.upstream, self.spool_dir)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
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

    # -- HTTP/1.1 server -------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                request = await self._read_head(reader)
                if request is None:
                    break
                if (request.header("expect") or "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                keep_alive = await self._handle(request, reader, writer)
                await writer.drain()
                if not (keep_alive and request.keep_alive):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        return Request(method.upper(), target, headers)

    @staticmethod
    async def _body_chunks(request: Request, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """The request body, as it arrives (Content-Length or chunked)."""
        if (request.header("transfer-encoding") or "").lower() == "chunked":
            while True:
                size_line = await reader.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                remaining = size
                while remaining:
                    chunk = await reader.read(min(remaining, CHUNK))
                    if not chunk:
                        raise asyncio.IncompleteReadError(b"", remaining)
                    remaining -= len(chunk)
                    yield chunk
                await reader.readexactly(2)  # CRLF after each chunk
        else:
            remaining = int(request.header("content-length") or 0)
            while remaining:
                chunk = await reader.read(min(remaining, CHUNK))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(chunk)
                yield chunk

    async def _read_body(self, request: Request, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        async for chunk in self._body_chunks(request, reader):
            body += chunk
            if len(body) > MAX_FORWARDED_BODY:
                raise HttpError(413, "EntityTooLarge", "forwarded request body too large")
        return bytes(body)

    async def _body_to_file(
        self, request: Request, reader: asyncio.StreamReader, path: Path
    ) -> tuple[int, str]:
        """Spool the body to ``path``; returns (size, md5 hex)."""
        md5 = hashlib.md5()  # noqa: S324 - an ETag, not security
        size = 0
        async with aiofiles.open(path, "wb") as fh:
            async for chunk in self._body_chunks(request, reader):
                md5.update(chunk)
                size += len(chunk)
                await fh.write(chunk)
        return size, md5.hexdigest()

    @staticmethod
    def _write_head(
        writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]]
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _write_response(
        self, writer: asyncio.StreamWriter, request: Request, response: Response
    ) -> None:
        headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        headers += [
            ("Content-Length", str(len(response.body))),
            ("Date", formatdate(usegmt=True)),
            ("Server", "gcs-xml-adapter"),
        ]
        self._write_head(writer, response.status, headers)
        if request.method != "HEAD":
            writer.write(response.body)

    # -- dispatch --------------------------------------------------------------------------

    async def _handle(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; returns False if the connection must close afterwards.

        XML-write handlers always consume the whole request body before they can fail, so
        their error answers keep the connection; a failed forward closes it.
        """
        log.debug("%s %s %s", request.method, request.target, request.headers)
        route = self._route(request)
        keep_alive = True
        try:
            if route == "health":
                response = Response(200, [("Content-Type", "text/plain")], b"ok")
            elif route == "forward":
                bucket = request.path.strip("/")
                if request.method == "GET" and bucket and "/" not in bucket and not (
                    request.path.startswith(JSON_API_PREFIXES)
                ):
                    # A listing: GCS answers 404 NoSuchBucket, fake-gcs-server a 500.
                    await self._bucket_must_exist(unquote(bucket))
                body = await self._read_body(request, reader)
                await self._forward(request, body, writer)
                log.info("%s %s -> forwarded", request.method, request.target)
                return True
            else:
                response = await self._xml_write(route, request, reader)
        except HttpError as exc:
            response = error_response(exc)
            keep_alive = route != "forward"
        except httpx.HTTPError as exc:
            log.exception("emulator request failed")
            response = error_response(HttpError(502, "BadGateway", f"emulator: {exc!r}"))
        log.info("%s %s -> %s (%s)", request.method, request.target, response.status, route)
        self._write_response(writer, request, response)
        return keep_alive

    def _route(self, request: Request) -> str:
        path, query, method = request.path, request.query, request.method
        if path == HEALTH_PATH:
            return "health"
        object_path = not path.startswith(JSON_API_PREFIXES) and path.strip("/").count("/") >= 1
        if not object_path:
            return "forward"
        if method == "PUT" and "uploadId" in query and "partNumber" in query:
            return "put_part"
        if method == "PUT" and request.header("x-goog-copy-source"):
            return "copy"
        if method == "PUT":
            return "put"
        if method == "POST" and "uploads" in query:
            return "initiate"
        if method == "POST" and "uploadId" in query:
            return "complete"
        if method == "DELETE" and "uploadId" in query:
            return "abort"
        return "forward"

    @staticmethod
    def _split_object_path(path: str) -> tuple[str, str]:
        bucket, _, key = path.lstrip("/").partition("/")
        return unquote(bucket), unquote(key)

    async def _xml_write(
        self, route: str, request: Request, reader: asyncio.StreamReader
    ) -> Response:
        bucket, key = self._split_object_path(request.path)
        if route == "put":
            return await self._put_object(request, reader, bucket, key)
        if route == "initiate":
            await self._drain(request, reader)
            return await self._initiate(request, bucket, key)
        if route == "put_part":
            return await self._put_part(request, reader, bucket, key)
        if route == "complete":
            body = await self._read_body(request, reader)
            return await self._complete(request, body, bucket, key)
        if route == "abort":
            await self._drain(request, reader)
            return self._abort(request)
        if route == "copy":
            await self._drain(request, reader)
            return await self._copy(request, bucket, key)
        raise AssertionError(route)

    async def _drain(self, request: Request, reader: asyncio.StreamReader) -> None:
        async for _ in self._body_chunks(request, reader):
            pass

    # -- forwarding ------------------------------------------------------------------------

    async def _forward(self, request: Request, body: bytes, writer: asyncio.StreamWriter) -> None:
        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
        upstream = self.client.build_request(
            request.method,
            httpx.URL(self.upstream + request.target),
            headers=headers,
            content=body if body or request.method in ("PUT", "POST", "PATCH") else None,
        )
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            raise HttpError(502, "BadGateway", f"emulator: {exc!r}") from exc
        head_written = False
        try:
            out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            length = response.headers.get("content-length")
            no_body = request.method == "HEAD" or response.status_code in (204, 304)
            if length is not None:
                out.append(("Content-Length", length))  # also for HEAD: obstore reads it
            elif not no_body:
                out.append(("Transfer-Encoding", "chunked"))
            self._write_head(writer, response.status_code, out)
            head_written = True
            if no_body:
                return
            async for chunk in response.aiter_raw():
                if length is not None:
                    writer.write(chunk)
                else:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
            if length is None:
                writer.write(b"0\r\n\r\n")
        except httpx.HTTPError as exc:
            if head_written:  # too late for an error answer: drop the connection
                raise ConnectionAbortedError(f"emulator failed mid-response: {exc!r}") from exc
            raise HttpError(502, "BadGateway", f"emulator: {exc!r}") from exc
        finally:
            await response.aclose()

    # -- XML writes done through the JSON API ----------------------------------------------

    @staticmethod
    def _object_metadata(request: Request, key: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": key}
        custom: dict[str, str] = {}
        for name, value in request.headers:
            lname = name.lower()
            if lname in ATTRIBUTE_HEADERS:
                metadata[ATTRIBUTE_HEADERS[lname]] = value
            elif lname.startswith(META_PREFIX):
                custom[lname[len(META_PREFIX) :]] = value
        metadata.setdefault("contentType", "application/octet-stream")
        if custom:
            metadata["metadata"] = custom
        return metadata

    @staticmethod
    def _generation_match(request: Request) -> str | None:
        value = request.header("x-goog-if-generation-match")
        if value is None and request.header("if-none-match") == "*":
            value = "0"
        return value

    async def _upload(
        self,
        bucket: str,
        metadata: dict[str, Any],
        files: Sequence[Path],
        if_generation_match: str | None,
    ) -> dict[str, Any]:
        """Store the concatenation of ``files`` as one object (JSON multipart upload).

        Streams from disk; ``uploadType=multipart`` is the upload kind whose
        ``ifGenerationMatch`` fake-gcs-server enforces.
        """
        boundary = f"adapter-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(metadata)}\r\n"
            f"--{boundary}\r\nContent-Type: {metadata['contentType']}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = len(head) + len(tail) + sum(f.stat().st_size for f in files)

        async def body() -> AsyncIterator[bytes]:
            yield head
            for path in files:
                async with aiofiles.open(path, "rb") as fh:
                    while chunk := await fh.read(CHUNK):
                        yield chunk
            yield tail

        params = {"uploadType": "multipart"}
        if if_generation_match is not None:
            params["ifGenerationMatch"] = if_generation_match
        response = await self.client.post(
            f"/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params=params,
            headers={
                "Content-Type": f"multipart/related; boundary={boundary}",
                "Content-Length": str(size),
            },
            content=body(),
        )
        return self._json_or_error(response, f"{bucket}/{metadata['name']}")

    @staticmethod
    def _json_or_error(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code == 200:
            result: dict[str, Any] = response.json()
            return result
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        if response.status_code == 412:
            raise HttpError(412, "PreconditionFailed", f"{what}: {message}")
        if response.status_code == 404:
            raise HttpError(404, "NoSuchKey", f"{what}: {message}")
        raise HttpError(response.status_code, "EmulatorError", f"{what}: {message}")

    @staticmethod
    def _put_headers(obj: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            ("ETag", f'"{obj["etag"]}"'),
            ("x-goog-generation", str(obj["generation"])),
            ("x-goog-metageneration", str(obj.get("metageneration", "1"))),
        ]

    async def _bucket_must_exist(self, bucket: str) -> None:
        response = await self.client.get(f"/storage/v1/b/{quote(bucket, safe='')}")
        if response.status_code == 404:
            raise HttpError(404, "NoSuchBucket", "The specified bucket does not exist.")
        self._json_or_error(response, bucket)

    async def _put_object(
        self, request: Request, reader: asyncio.StreamReader, bucket: str, key: str
    ) -> Response:
        directory = Path(tempfile.mkdtemp(prefix="put-", dir=self.spool_dir))
        try:
            data = directory / "body"
            await self._body_to_file(request, reader, data)
            obj = await self._upload(
                bucket, self._object_metadata(request, key), [data], self._generation_match(request)
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return Response(200, self._put_headers(obj))

    async def _initiate(self, request: Request, bucket: str, key: str) -> Response:
        await self._bucket_must_exist(bucket)
        upload_id = uuid.uuid4().hex
        directory = Path(tempfile.mkdtemp(prefix=f"mpu-{upload_id}-", dir=self.spool_dir))
        self._uploads[upload_id] = Upload(
            bucket, key, directory, self._object_metadata(request, key)
        )
        return xml_response(
            200,
            "<InitiateMultipartUploadResult>"
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>",
        )

    def _get_upload(self, request: Request, bucket: str, key: str) -> Upload:
        upload = self._uploads.get(request.query.get("uploadId", ""))
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise HttpError(404, "NoSuchUpload", "unknown upload id")
        return upload

    async def _put_part(
        self, request: Request, reader: asyncio.StreamReader, bucket: str, key: str
    ) -> Response:
        try:
            upload = self._get_upload(request, bucket, key)
            number = int(request.query["partNumber"])
        except (HttpError, ValueError):
            await self._drain(request, reader)
            raise
        if not 1 <= number <= 10000:
            await self._drain(request, reader)
            raise HttpError(400, "InvalidArgument", f"part number {number}")
        path = upload.directory / f"part-{number:05d}"
        _size, md5 = await self._body_to_file(request, reader, path)
        etag = f'"{md5}"'
        upload.parts[number] = (path, etag)
        return Response(200, [("ETag", etag)])

    async def _complete(self, request: Request, body: bytes, bucket: str, key: str) -> Response:
        upload = self._get_upload(request, bucket, key)
        files: list[Path] = []
        for number, etag in parse_complete_body(body):
            stored = upload.parts.get(number)
            if stored is None or (etag and etag.strip('"') != stored[1].strip('"')):
                raise HttpError(400, "InvalidPart", f"part {number} missing or etag mismatch")
            files.append(stored[0])
        if not files:
            raise HttpError(400, "MalformedXML", "no parts")
        obj = await self._upload(bucket, upload.metadata, files, self._generation_match(request))
        del self._uploads[request.query["uploadId"]]
        shutil.rmtree(upload.directory, ignore_errors=True)
        etag = f'"{obj["etag"]}"'
        return xml_response(
            200,
            "<CompleteMultipartUploadResult>"
            f"<Location>{escape(self.url)}/{escape(quote(bucket))}/{escape(quote(key))}</Location>"
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>{escape(etag)}</ETag></CompleteMultipartUploadResult>",
            self._put_headers(obj),
        )

    def _abort(self, request: Request) -> Response:
        upload = self._uploads.pop(request.query.get("uploadId", ""), None)
        if upload is None:
            raise HttpError(404, "NoSuchUpload", "unknown upload id")
        shutil.rmtree(upload.directory, ignore_errors=True)
        return Response(204)

    async def _copy(self, request: Request, bucket: str, key: str) -> Response:
        source = unquote(request.header("x-goog-copy-source") or "").lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        if not src_bucket or not src_key:
            raise HttpError(400, "InvalidArgument", f"bad x-goog-copy-source {source!r}")
        src_url = f"/storage/v1/b/{quote(src_bucket, safe='')}/o/{quote(src_key, safe='')}"
        src = self._json_or_error(await self.client.get(src_url), source)
        metadata = {k: v for k, v in src.items() if k in {*ATTRIBUTE_HEADERS.values(), "metadata"}}
        metadata["name"] = key
        metadata.setdefault("contentType", "application/octet-stream")
        directory = Path(tempfile.mkdtemp(prefix="copy-", dir=self.spool_dir))
        try:
            data = directory / "body"
            params = {"alt": "media", "generation": str(src["generation"])}
            async with self.client.stream(
                "GET", src_url.replace("/storage/", "/download/storage/", 1), params=params
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._json_or_error(response, source)
                async with aiofiles.open(data, "wb") as fh:
                    async for chunk in response.aiter_raw():
                        await fh.write(chunk)
            obj = await self._upload(bucket, metadata, [data], self._generation_match(request))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        etag = f'"{obj["etag"]}"'
        return xml_response(
            200,
            f"<CopyObjectResult><LastModified>{escape(str(obj.get('updated', '')))}"
            f"</LastModified><ETag>{escape(etag)}</ETag></CopyObjectResult>",
            self._put_headers(obj),
        )


async def _run(args: argparse.Namespace) -> None:
    adapter = GcsXmlAdapter(args.upstream, host=args.host, port=args.port)
    await adapter.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await adapter.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="fake-gcs-server base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    for noisy in ("httpx", "httpcore"):  # one line per request is ours
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
