"""The Azure Blob store: Zeebe's ``manifests/...`` and ``contents/...`` in a container.

Zeebe's "basePath" is the container, which can be created before the first
write (obstore has no call for it, so one small Shared Key or SAS signed
request does it, as the seam's ``prepare`` hook); credentials come from an
account key, a SAS token, a connection string or the environment. Create-only
first writes (``If-None-Match: *``) and e-tag-matched completion come from obstore.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import urllib.error
import urllib.request
from dataclasses import replace
from email.message import Message
from email.utils import formatdate
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import SplitResult, quote, urlsplit

from obstore.store import AzureStore
from pydantic import SecretStr, field_validator, model_validator

from backup_store.engine import ObjectBackupStore
from backup_store.errors import ConfigurationError, StoreUnavailableError
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.io import CopyReach, ObstoreIO, capabilities_of
from backup_store.registry import register
from backup_store.stores.config import (
    CloudConfig,
    check_customer_key,
    endpoint_for_display,
    url_options,
)

if TYPE_CHECKING:
    from obstore.store import AzureConfig as ObstoreAzureConfig
    from obstore.store import ObjectStore

API_VERSION = "2021-08-06"
EMULATOR_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


AZURE_HOST_SUFFIXES = (".blob.core.windows.net", ".dfs.core.windows.net")


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;...`` pairs of an Azure Storage connection string."""
    pairs = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    if pairs.get("UseDevelopmentStorage", "").lower() == "true":
        pairs.setdefault("AccountName", EMULATOR_ACCOUNT)
        pairs.setdefault("AccountKey", EMULATOR_KEY)
        pairs.setdefault("BlobEndpoint", f"http://127.0.0.1:10000/{EMULATOR_ACCOUNT}")
    return pairs


class AzureConfig(CloudConfig):
    """Where and how to reach an Azure Blob container.

    Give ``account_name`` with ``account_key`` or ``sas_token``, or a
    ``connection_string``; unset, obstore reads the ``AZURE_STORAGE_*``
    environment. ``endpoint`` is the account URL (Azurite:
    ``http://127.0.0.1:10000/devstoreaccount1``).
    """

    ALIASES: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("azure_container_name", "container_name"), "container"),
        "azure_storage_account_name": "account_name",
        **dict.fromkeys(
            (
                "azure_storage_account_key", "azure_storage_access_key",
                "azure_storage_master_key", "master_key", "access_key",
            ),
            "account_key",
        ),
        **dict.fromkeys(
            ("azure_storage_sas_key", "azure_storage_sas_token", "sas_key"), "sas_token"
        ),
        **dict.fromkeys(("azure_storage_endpoint", "azure_endpoint"), "endpoint"),
        "azure_storage_encryption_key": "encryption_key",
    }  # fmt: skip
    OBSTORE_OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "azure_storage_client_id", "azure_client_id", "client_id",
            "azure_storage_client_secret", "azure_client_secret", "client_secret",
            "azure_storage_tenant_id", "azure_storage_authority_id", "azure_tenant_id",
            "azure_authority_id", "tenant_id", "authority_id", "azure_storage_authority_host",
            "azure_authority_host", "authority_host", "azure_storage_token", "bearer_token",
            "token", "azure_storage_use_emulator", "use_emulator", "azure_msi_endpoint",
            "azure_identity_endpoint", "identity_endpoint", "msi_endpoint", "azure_object_id",
            "object_id", "azure_msi_resource_id", "msi_resource_id", "azure_federated_token_file",
            "federated_token_file", "azure_use_fabric_endpoint", "use_fabric_endpoint",
            "azure_use_azure_cli", "use_azure_cli", "azure_skip_signature", "skip_signature",
            "azure_disable_tagging", "disable_tagging", "azure_fabric_token_service_url",
            "fabric_token_service_url", "azure_fabric_workload_host", "fabric_workload_host",
            "azure_fabric_session_token", "fabric_session_token",
            "azure_fabric_cluster_identifier", "fabric_cluster_identifier",
            "azure_credential_type", "credential_type", "azure_allow_http",
        }
    )  # fmt: skip
    OBSTORE_PREFIX = "azure_"

    container: str

    def __init__(self, container: str | None = None, /, **values: Any) -> None:
        # Allow AzureConfig("name", ...) as well as AzureConfig(container="name", ...).
        if container is not None:
            values["container"] = container
        super().__init__(**values)

    endpoint: str | None = None
    account_name: str | None = None
    account_key: SecretStr | None = None
    connection_string: SecretStr | None = None
    sas_token: SecretStr | None = None
    create_container: bool = True
    encryption_key: SecretStr | None = None
    """A customer-provided key (CPK): base64 AES-256, sent with every blob read and
    write; Azure keeps only its hash, so every reader needs the same key."""

    _customer_key = field_validator("encryption_key")(check_customer_key)

    @model_validator(mode="after")
    def _from_connection_string(self) -> AzureConfig:
        if self.connection_string is None:
            return self
        pairs = parse_connection_string(self.connection_string.get_secret_value())
        updates: dict[str, object] = {}
        if self.account_name is None and "AccountName" in pairs:
            updates["account_name"] = pairs["AccountName"]
        if self.account_key is None and "AccountKey" in pairs:
            updates["account_key"] = SecretStr(pairs["AccountKey"])
        if self.sas_token is None and "SharedAccessSignature" in pairs:
            updates["sas_token"] = SecretStr(pairs["SharedAccessSignature"])
        if self.endpoint is None and "BlobEndpoint" in pairs:
            updates["endpoint"] = pairs["BlobEndpoint"].rstrip("/")
        for name, value in updates.items():
            object.__setattr__(self, name, value)
        return self

    @model_validator(mode="after")
    def _account_from_endpoint(self) -> AzureConfig:
        # Zeebe needs only the endpoint (with a SAS token); obstore wants the account
        # too: it is the host's first label, or the first path segment (emulators).
        if self.account_name is None and self.endpoint:
            parts = urlsplit(self.endpoint)
            host = parts.hostname or ""
            if host.endswith(AZURE_HOST_SUFFIXES):
                account = host.split(".")[0]
            else:
                account = parts.path.strip("/").split("/")[0]
            if account:
                object.__setattr__(self, "account_name", account)
        return self

    @property
    def endpoint_url(self) -> str | None:
        return self.endpoint

    @property
    def location(self) -> str:
        return f"az://{self.container}"

    @property
    def account_url(self) -> str:
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if not self.account_name:
            raise ConfigurationError("an Azure store needs an account name or an endpoint")
        return f"https://{self.account_name}.blob.core.windows.net"

    def obstore_config(self) -> ObstoreAzureConfig:
        config: ObstoreAzureConfig = {"container_name": self.container}
        if self.endpoint:
            config["endpoint"] = self.endpoint.rstrip("/")
        if self.account_name:
            config["account_name"] = self.account_name
        if self.account_key is not None:
            config["account_key"] = self.account_key.get_secret_value()
        elif self.sas_token is not None:
            config["sas_key"] = self.sas_token.get_secret_value().lstrip("?")
        if self.encryption_key is not None:
            config["encryption_key"] = self.encryption_key.get_secret_value()
        return config


def shared_key_authorization(
    account: str, key: str, method: str, url: str, headers: dict[str, str]
) -> str:
    """The ``Authorization`` header of a request signed with Shared Key (for
    requests without body; the query parameters are part of the signature)."""
    lower = {k.lower(): v for k, v in headers.items()}
    standard = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type",
        "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]  # fmt: skip
    values = [lower.get(name, "") if lower.get(name) != "0" else "" for name in standard]
    canonical_headers = "".join(
        f"{name}:{lower[name].strip()}\n"
        for name in sorted(n for n in lower if n.startswith("x-ms-"))
    )
    parts = urlsplit(url)
    resource = f"/{account}{parts.path}"
    query = sorted(tuple(pair.split("=", 1)) for pair in parts.query.split("&") if pair)
    resource += "".join(f"\n{name.lower()}:{value}" for name, value in query)
    to_sign = f"{method}\n" + "\n".join(values) + "\n" + canonical_headers + resource
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


class AzureBackupStore(ObjectBackupStore):
    """Backups in an Azure Blob container, in Zeebe's Azure layout and manifest form."""

    def __init__(self, config: AzureConfig, *, object_store: ObjectStore | None = None) -> None:
        self.config = config
        creates_container = config.create_container and object_store is None
        store = config.open_obstore("Azure", AzureStore) if object_store is None else object_store
        # Copies are declared only where this store can ask whether one is done.
        signs = config.account_key is not None or config.sas_token is not None
        capabilities = capabilities_of(store)
        io = ObstoreIO(
            store,
            description=config.description(),
            prepare=partial(asyncio.to_thread, self._create_container)
            if creates_container
            else None,
            customer_key=config.encryption_key is not None,
            capabilities=replace(capabilities, server_side_copy=True) if signs else capabilities,
            copy_status=self.copy_status if signs else None,
            # Copy Blob reaches every container of the account (obstore's only its own).
            reach=CopyReach(f"azure {endpoint_for_display(config.account_url)}", config.container)
            if signs
            else None,
            copy_across=self.copy_from_container,
            **config.io_options(),
        )
        super().__init__(
            io, kind="azure", format=ZEEBE_COMMON, max_concurrency=config.max_concurrency
        )

    def _signed(
        self, method: str, path: str, query: str = "", more: dict[str, str] | None = None
    ) -> urllib.request.Request:
        """A request without body for ``{account}/{path}?{query}`` with the ``more``
        headers, signed with the store's Shared Key or SAS token (kept out of every
        message)."""
        config = self.config
        url = f"{config.account_url}/{path}" + (f"?{query}" if query else "")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigurationError(
                f"an Azure endpoint must be http(s), not {url.split(':')[0]!r}"
            )
        # Content-Type set explicitly: urllib would add one after signing.
        headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION,
                   "Content-Length": "0", "Content-Type": "application/octet-stream",
                   **(more or {})}  # fmt: skip
        if config.account_key is not None and config.account_name:
            headers["Authorization"] = shared_key_authorization(
                config.account_name, config.account_key.get_secret_value(), method, url, headers
            )
        elif config.sas_token is not None:
            sas = config.sas_token.get_secret_value().lstrip("?")
            url += ("&" if query else "?") + sas
        data = b"" if method == "PUT" else None
        return urllib.request.Request(url, method=method, headers=headers, data=data)  # noqa: S310

    async def copy_status(self, key: str) -> str | None:
        """The state of the copy that made blob ``key`` (``x-ms-copy-status``: success,
        pending, failed, aborted), None for a blob no copy made (Get Blob Properties)."""
        request = self._signed("HEAD", f"{self.config.container}/{quote(key)}")
        headers = await asyncio.to_thread(self._send, request, "read the copy's state", key)
        return None if headers is None else headers.get("x-ms-copy-status")

    async def copy_from_container(self, container: str, source: str, key: str) -> None:
        """Copy Blob into blob ``key`` from blob ``source`` of ``container``, another
        container of the account (authorized by the same Shared Key or SAS token); the
        copy may still be pending when this returns (:meth:`copy_status`)."""
        config = self.config
        source_url = f"{config.account_url}/{container}/{quote(source)}"
        if config.account_key is None and config.sas_token is not None:
            source_url += "?" + config.sas_token.get_secret_value().lstrip("?")
        request = self._signed(
            "PUT", f"{config.container}/{quote(key)}", more={"x-ms-copy-source": source_url}
        )
        await asyncio.to_thread(self._send, request, "copy a blob", key)

    def _send(
        self,
        request: urllib.request.Request,
        operation: str,
        key: str | None = None,
        *,
        conflict_ok: bool = False,
    ) -> Message | None:
        """The answer's headers; None for 409 Conflict where ``conflict_ok`` (the
        container exists already). Any other failure is a :class:`StoreUnavailableError`
        that names no credential."""
        config = self.config
        seconds = config.connect_timeout_seconds + 30
        try:
            with urllib.request.urlopen(request, timeout=seconds) as answer:  # noqa: S310
                headers: Message = answer.headers
                return headers
        except urllib.error.HTTPError as error:
            if error.code == 409 and conflict_ok:
                return None
            problem = f"HTTP {error.code}"
        except OSError as error:
            problem = f"{endpoint_for_display(config.account_url)} unreachable: {error}"
        raise StoreUnavailableError(
            f"could not {operation}: {problem}",
            store=self.description,
            key=key,
            operation=operation,
        )

    def _create_container(self) -> None:
        request = self._signed("PUT", self.config.container, "restype=container")
        self._send(request, "create container", conflict_ok=True)

def from_url(url: SplitResult) -> AzureBackupStore:
    """``az://container?endpoint=...&account_name=...&account_key=...`` (or
    ``sas_token``, ``connection_string``, ``create_container=false``); obstore's
    forms too: ``azure://container``, ``abfs[s]://container[@account.dfs.core.windows.net]``
    and ``https://account.blob.core.windows.net/container``."""
    values: dict[str, object] = dict(url_options(url))
    host = url.hostname or ""
    path = url.path.strip("/")
    if url.scheme == "https":
        if not host.endswith(AZURE_HOST_SUFFIXES) or not path or "/" in path:
            raise ConfigurationError(
                "an https:// store URL is an Azure container URL, "
                "https://<account>.blob.core.windows.net/<container>"
            )
        container, path = path, ""
        values.setdefault("account_name", host.split(".")[0])
    elif url.username:  # abfs://container@account.dfs.core.windows.net
        if not host.endswith(AZURE_HOST_SUFFIXES):
            raise ConfigurationError(
                f"{url.scheme}://container@<account>.dfs.core.windows.net: "
                f"{host!r} is not an Azure storage host"
            )
        container = url.username
        values.setdefault("account_name", host.split(".")[0])
    else:
        container = host
    if path:
        raise ConfigurationError(
            "an Azure store URL names only the container (Zeebe's base path): az://container"
        )
    return AzureBackupStore(AzureConfig(container, **values))


# obstore's spellings of Azure URLs too; https:// only for Azure's hosts (checked above).
for _scheme in ("az", "azure", "abfs", "abfss", "https"):
    register(_scheme, from_url, AzureConfig, AzureBackupStore)
