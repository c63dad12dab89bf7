"""A recording HTTP proxy in front of an emulator, which can answer SSE-C as S3 does
and inject faults.

moto's server ignores SSE-C headers (it serves an object written with a customer
key to a request without one, or with another key); it stores and returns the
SSE-KMS headers; Azurite likewise takes and ignores Azure's customer-key headers.
The proxy records every request's method, path and headers, so
that a test counts which carried the encryption headers, and with
``enforce_customer_keys`` refuses object reads as Amazon S3 answers them: 400
``InvalidRequest`` without the key (a bare 400 to a HEAD), 403 ``AccessDenied``
with another key, 400 ``InvalidRequest`` for a key on an object stored without one.

:class:`Fault` makes it fail requests as a service sometimes does: the matching
requests (after the first ``skip`` of them) answered with an error status without
reaching the emulator, or forwarded with one byte of the response body flipped.
"""

from __future__ import annotations

import http.client
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
COPY_SOURCE_KEY_MD5 = "x-amz-copy-source-server-side-encryption-customer-key-md5"
_HOP_BY_HOP = frozenset({"connection", "transfer-encoding", "content-length", "keep-alive"})


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names

    @property
    def object_request(self) -> bool:
        """A request on one object (not a listing or a batch delete of the bucket)."""
        return urlsplit(self.path).path.strip("/").count("/") >= 1


@dataclass
class Fault:
    """Requests that ``matches`` accepts fail: after the first ``skip`` of them, the
    next ``times`` (None: all) are answered ``status`` without reaching the emulator
    or, with ``corrupt``, forwarded and the middle byte of the response body flipped."""

    matches: Callable[[Recorded], bool]
    skip: int = 0
    times: int | None = 1
    status: int = 500
    corrupt: bool = False
    seen: int = field(default=0, init=False)
    injected: list[Recorded] = field(default_factory=list, init=False)

    def applies(self, request: Recorded) -> bool:
        """Whether this request fails (counted; call once per request)."""
        if not self.matches(request):
            return False
        self.seen += 1
        due = self.seen > self.skip and (self.times is None or len(self.injected) < self.times)
        if due:
            self.injected.append(request)
        return due


class RecordingProxy:
    """Forwards to ``upstream``; see the module docstring."""

    def __init__(
        self,
        upstream: str,
        *,
        enforce_customer_keys: bool = False,
        faults: Sequence[Fault] = (),
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.enforce_customer_keys = enforce_customer_keys
        self.faults = list(faults)
        self.requests: list[Recorded] = []
        self._key_of: dict[str, str | None] = {}  # object path -> key MD5 it was written with
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Recorded(self.command, self.path, headers)
                with proxy._lock:
                    proxy.requests.append(request)
                    refusal = proxy._refusal(request)
                    fault = next((f for f in proxy.faults if f.applies(request)), None)
                if fault is not None and not fault.corrupt:
                    refusal = fault.status, _error("InternalError", "injected by the test")
                if refusal is not None:
                    self._answer(*refusal, [])
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.netloc, timeout=60)
                try:
                    sent = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    upstream.request(self.command, self.path, body=body, headers=sent)
                    response = upstream.getresponse()
                    data = response.read()
                    if fault is not None and data:
                        middle = len(data) // 2
                        data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
                    self._answer(response.status, data, response.getheaders())
                finally:
                    upstream.close()

            def _answer(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response_only(status)
                length = str(len(data))
                for name, value in headers:
                    if name.lower() == "content-length":
                        length = value  # a HEAD's is the object's size
                    elif name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        return Handler

    def _refusal(self, request: Recorded) -> tuple[int, bytes] | None:
        if not self.enforce_customer_keys or not request.object_request:
            return None
        path = urlsplit(request.path).path
        query = urlsplit(request.path).query
        given = request.headers.get(KEY_MD5)
        if request.method == "PUT" and "x-amz-copy-source" in request.headers:
            source = urlsplit(request.headers["x-amz-copy-source"]).path
            refusal = self._read_refusal(source, request.headers.get(COPY_SOURCE_KEY_MD5))
            if refusal is None:
                self._key_of[path] = given
            return refusal
        if request.method == "PUT" or (request.method == "POST" and "uploads" in query):
            if "partNumber" not in query:
                self._key_of[path] = given
            return None
        if request.method in ("GET", "HEAD"):
            return self._read_refusal(path, given)
        return None

    def _read_refusal(self, path: str, given: str | None) -> tuple[int, bytes] | None:
        path = "/" + path.lstrip("/")
        if path not in self._key_of:
            return None  # not written through the proxy: moto answers (404)
        stored = self._key_of[path]
        if stored is None and given is None:
            return None
        if stored is not None and given is None:
            return 400, _error(
                "InvalidRequest",
                "The object was stored using a form of Server Side Encryption. The correct "
                "parameters must be provided to retrieve the object.",
            )
        if stored is None:
            return 400, _error(
                "InvalidRequest", "The encryption parameters are not applicable to this object."
            )
        if stored != given:
            return 403, _error("AccessDenied", "Access Denied")
        return None

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    @contextmanager
    def running(self) -> Iterator[RecordingProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up mid-answer (a request it gave up on)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>proxy</RequestId></Error>"
    ).encode()
