"""The S3 store (and S3-compatible services), in Zeebe's S3 format.

Zeebe's S3 format (:data:`~backup_store.formats.ZEEBE_S3`) brings the classic
``bp/p/c/n/...`` layout, Zeebe 8.9's ``manifests/`` + ``contents/`` layout and
per-file zstd compression; this module only turns an :class:`S3Config` into
an obstore ``S3Store`` (with single deletes for services without DeleteObjects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import SplitResult

from obstore.store import S3Store
from pydantic import SecretStr

from backup_store.formats import ZEEBE_S3
from backup_store.object_backup_store import ObjectBackupStore
from backup_store.objects import ObstoreIO
from backup_store.registry import register
from backup_store.stores.config import (
    BucketConfig,
    url_base_path,
    url_options,
)

if TYPE_CHECKING:
    from obstore.store import ObjectStore
    from obstore.store import S3Config as ObstoreS3Config


class S3Config(BucketConfig):
    """Where and how to reach an S3 bucket. Unset credentials come from the
    environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, roles)."""

    scheme = "s3"

    endpoint: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    force_path_style: bool = False
    compression: Literal["zstd", "none"] | None = None
    batch_delete: bool = True

    @property
    def endpoint_url(self) -> str | None:
        return self.endpoint

    def obstore_config(self) -> ObstoreS3Config:
        config: ObstoreS3Config = {"bucket": self.bucket}
        if self.endpoint:
            config["endpoint"] = self.endpoint
        if self.region:
            config["region"] = self.region
        for name in ("access_key_id", "secret_access_key", "session_token"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None:
                config[name] = secret.get_secret_value()
        if self.force_path_style:
            config["virtual_hosted_style_request"] = False
        return config


class S3BackupStore(ObjectBackupStore):
    """Backups in an S3 bucket, in Zeebe's S3 layout and manifest form."""

    def __init__(self, config: S3Config, *, object_store: ObjectStore | None = None) -> None:
        self.config = config
        io = ObstoreIO(
            config.open_obstore("S3", S3Store) if object_store is None else object_store,
            description=config.description(),
            batch_delete=config.batch_delete,
            **config.io_options(),
        )
        super().__init__(
            io,
            kind="s3",
            format=ZEEBE_S3,
            base_path=config.base_path,
            compression=config.compression,
            max_concurrency=config.max_concurrency,
        )


def from_url(url: SplitResult) -> S3BackupStore:
    """``s3://bucket/base?endpoint=...&region=...&compression=zstd&force_path_style=true``."""
    values = {"bucket": url.hostname, "base_path": url_base_path(url), **url_options(url)}
    return S3BackupStore(S3Config(**values))


register("s3", from_url, S3Config, S3BackupStore)
