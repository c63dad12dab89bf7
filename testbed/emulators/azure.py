"""Azure Blob: Azurite (``azurite-blob`` from npm), plus a minimal Shared Key signer.

obstore cannot create containers, and Azurite rejects anonymous container creation even
in ``--loose`` mode (403 AuthorizationFailure), so the harness signs the one REST call it
needs, Create Container, itself with the emulator's well-known account key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import httpx

from testbed.emulators._base import Emulator, LocalBucket, check_created, unique_bucket_name
from testbed.emulators._process import free_port, http_responds
from testbed.emulators.install import ensure_azurite

if TYPE_CHECKING:
    from obstore.store import AzureConfig

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_API_VERSION = "2021-08-06"

# The standard headers of the Shared Key string-to-sign, in order.
_SIGNED_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def shared_key_signature(
    *,
    account: str,
    key: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
) -> str:
    """The ``Authorization`` value for a Blob request signed with Shared Key.

    Implements the "Blob, Queue and File services (Shared Key authorization)" scheme for
    API versions 2015-02-21 and later: a string-to-sign of the verb, the standard headers
    (``Content-Length`` empty when 0), the ``x-ms-*`` headers (lowercase, sorted), and the
    canonicalized resource ``/<account><url path>`` followed by one ``\\n<name>:<value>``
    line per query parameter (lowercase names, sorted). HMAC-SHA256 with the base64-decoded
    key, base64-encoded. ``headers`` must already hold ``x-ms-date`` and ``x-ms-version``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    standard = []
    for name in _SIGNED_STANDARD_HEADERS:
        value = lower.get(name, "")
        if name == "content-length" and value == "0":
            value = ""
        standard.append(value)
    canonical_headers = "".join(
        f"{name}:{' '.join(lower[name].split())}\n"
        for name in sorted(n for n in lower if n.startswith("x-ms-"))
    )
    parts = urlsplit(url)
    resource = f"/{account}{parts.path or '/'}"
    query: dict[str, list[str]] = {}
    for pair in filter(None, parts.query.split("&")):
        qname, _, qvalue = pair.partition("=")
        query.setdefault(unquote(qname).lower(), []).append(unquote(qvalue.replace("+", "%20")))
    for qname in sorted(query):
        resource += f"\n{qname}:{','.join(sorted(query[qname]))}"
    string_to_sign = f"{method.upper()}\n" + "\n".join(standard) + "\n" + canonical_headers
    string_to_sign += resource
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


def signed_request(
    method: str,
    url: str,
    *,
    account: str = AZURITE_ACCOUNT,
    key: str = AZURITE_KEY,
    headers: Mapping[str, str] | None = None,
    content: bytes = b"",
    timeout: float = 30.0,
) -> httpx.Response:
    """Send one Shared Key signed request (``url`` carries the full query string)."""
    all_headers = {
        "x-ms-date": formatdate(usegmt=True),
        "x-ms-version": AZURE_API_VERSION,
        "Content-Length": str(len(content)),
        **(headers or {}),
    }
    all_headers["Authorization"] = shared_key_signature(
        account=account, key=key, method=method, url=url, headers=all_headers
    )
    return httpx.request(
        method, url, headers=all_headers, content=content, timeout=timeout, trust_env=False
    )


@dataclass(frozen=True)
class AzureContainer(LocalBucket):
    """A fresh container in Azurite.

    ``config`` holds the obstore ``AzureStore`` config keys: ``container_name``,
    ``account_name`` (devstoreaccount1), ``account_key`` (the well-known key) and
    ``endpoint`` = ``http://127.0.0.1:<port>/devstoreaccount1`` (path-style account URL);
    ``client_options`` is ``{"allow_http": True}``. (``use_emulator=True`` is *not* usable
    with a custom port: obstore then ignores ``endpoint`` and dials 127.0.0.1:10000 unless
    the ``AZURITE_BLOB_STORAGE_URL`` environment variable says otherwise.)
    """

    name: str
    account_url: str
    kind: Literal["azure"] = field(default="azure", init=False)
    store_type = "AzureStore"

    @property
    def url(self) -> str:
        return f"az://{self.name}"

    @property
    def config(self) -> AzureConfig:
        return {
            "container_name": self.name,
            "account_name": AZURITE_ACCOUNT,
            "account_key": AZURITE_KEY,
            "endpoint": self.account_url,
        }


class AzureEmulator(Emulator[AzureContainer]):
    """Azurite's blob service, in memory, on a free local port."""

    kind = "azure"

    def _install(self) -> None:
        ensure_azurite()

    @property
    def account_url(self) -> str:
        """``http://127.0.0.1:<port>/devstoreaccount1``: the blob endpoint obstore needs."""
        return f"{self.endpoint}/{AZURITE_ACCOUNT}"

    def _launch(self) -> str:
        port = free_port(self.host)
        endpoint = f"http://{self.host}:{port}"
        proc = self._spawn(
            "azurite-blob",
            [
                str(ensure_azurite()),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--blobHost",
                self.host,
                "--blobPort",
                str(port),
            ],
            cwd=self.log_dir,  # in case Azurite writes anything (debug log)
        )
        # Any HTTP answer (Azurite says 4xx to an unsigned GET /) means it is serving.
        proc.wait_ready(lambda: http_responds(f"{endpoint}/"), timeout=self.startup_timeout)
        return endpoint

    def create_container(self, name: str | None = None) -> AzureContainer:
        """Create a container (signed ``PUT /devstoreaccount1/<name>?restype=container``)."""
        name = name or unique_bucket_name()
        response = signed_request("PUT", f"{self.account_url}/{name}?restype=container")
        check_created(response, 201, f"Azurite container {name!r}")
        return AzureContainer(name=name, account_url=self.account_url)

    def create_bucket(self, name: str | None = None) -> AzureContainer:
        return self.create_container(name)
