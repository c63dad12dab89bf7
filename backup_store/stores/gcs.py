"""The GCS store: Zeebe's ``bp/manifests/...`` and ``bp/contents/...`` layout.

Quirks over the shared machinery: none in the protocol (create-only first
manifest write is ``ifGenerationMatch=0``, completion is generation-matched,
both done by obstore's conditional puts). Configuration only: credentials from a
service-account file or JSON, or the environment; ``host`` points at an
emulator and then disables OAuth, so the client never asks a metadata server.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import SplitResult

from obstore.store import GCSStore
from pydantic import SecretStr

from backup_store.engine import ObjectBackupStore
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.io import ObstoreIO
from backup_store.registry import register
from backup_store.stores.config import (
    BucketConfig,
    url_base_path,
    url_options,
)

if TYPE_CHECKING:
    from obstore.store import GCSConfig as ObstoreGcsConfig
    from obstore.store import ObjectStore


class GcsConfig(BucketConfig):
    """Where and how to reach a GCS bucket.

    ``host``: base URL of a GCS emulator (e.g. ``http://127.0.0.1:4443``); requests
    then go there without OAuth. ``service_account_path`` / ``service_account_key``
    (JSON text): credentials; unset, the environment is used
    (``GOOGLE_APPLICATION_CREDENTIALS``, ``GOOGLE_SERVICE_ACCOUNT``...).
    """

    scheme = "gs"
    ALIASES: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("google_bucket", "google_bucket_name", "bucket_name"), "bucket"),
        **dict.fromkeys(
            ("google_service_account", "service_account", "google_service_account_path"),
            "service_account_path",
        ),
        "google_service_account_key": "service_account_key",
    }
    OBSTORE_OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "google_base_url", "base_url", "google_application_credentials",
            "application_credentials", "google_bearer_token", "bearer_token",
            "google_skip_signature", "skip_signature", "google_allow_http",
        }
    )  # fmt: skip
    OBSTORE_PREFIX = "google_"

    host: str | None = None
    service_account_path: str | None = None
    service_account_key: SecretStr | None = None
    credentials: SecretStr | None = None
    """Either of the two above: a service-account JSON text, or a path to one."""

    @property
    def endpoint_url(self) -> str | None:
        return self.host

    def obstore_config(self) -> ObstoreGcsConfig:
        config: ObstoreGcsConfig = {"bucket": self.bucket}
        if self.credentials is not None:
            secret = self.credentials.get_secret_value()
            key = "service_account_key" if secret.lstrip().startswith("{") else "service_account"
            config[key] = secret  # type: ignore[literal-required]
        elif self.service_account_key is not None:
            config["service_account_key"] = self.service_account_key.get_secret_value()
        elif self.service_account_path is not None:
            config["service_account"] = self.service_account_path
        elif self.host is not None:
            # An emulator: no OAuth, and therefore no metadata-server fallback.
            config["service_account_key"] = json.dumps(
                {
                    "gcs_base_url": self.host.rstrip("/"),
                    "disable_oauth": True,
                    "client_email": "",
                    "private_key": "",
                    "private_key_id": "",
                }
            )
        return config


class GcsBackupStore(ObjectBackupStore):
    """Backups in a GCS bucket, in Zeebe's GCS layout and manifest form."""

    def __init__(self, config: GcsConfig, *, object_store: ObjectStore | None = None) -> None:
        self.config = config
        io = ObstoreIO(
            config.open_obstore("GCS", GCSStore) if object_store is None else object_store,
            description=config.description(),
            reach=config.copy_reach(),
            **config.io_options(),
        )
        super().__init__(
            io,
            kind="gcs",
            format=ZEEBE_COMMON,
            base_path=config.base_path,
            max_concurrency=config.max_concurrency,
        )


def from_url(url: SplitResult) -> GcsBackupStore:
    """``gs://bucket/base?host=...&service_account_path=...``."""
    values = {"bucket": url.hostname, "base_path": url_base_path(url), **url_options(url)}
    return GcsBackupStore(GcsConfig(**values))


register("gs", from_url, GcsConfig, GcsBackupStore)
