"""The S3 store (and S3-compatible services), in Zeebe's S3 format.

Zeebe's S3 format (:data:`~backup_store.formats.ZEEBE_S3`) brings the classic
``bp/p/c/n/...`` layout, Zeebe 8.9's ``manifests/`` + ``contents/`` layout and
per-file zstd compression; this module only turns an :class:`S3Config` into
an obstore ``S3Store`` (with single deletes for services without DeleteObjects),
encryption included: SSE-C with Camunda 8.9's ``ssecKey``, obstore then sending the
key with every object request, or SSE-KMS with a key id on every write.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import SplitResult

from obstore.store import S3Store
from pydantic import SecretStr, field_validator, model_validator

from backup_store.engine import ObjectBackupStore
from backup_store.format.formats import ZEEBE_S3
from backup_store.io import ObstoreIO
from backup_store.registry import register
from backup_store.stores.config import (
    BucketConfig,
    check_customer_key,
    url_base_path,
    url_options,
)

if TYPE_CHECKING:
    from obstore.store import ObjectStore
    from obstore.store import S3Config as ObstoreS3Config


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
"""Where obstore reads an S3 endpoint from the environment (first set wins)."""


class S3Config(BucketConfig):
    """Where and how to reach an S3 bucket. Unset credentials come from the
    environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, roles).

    obstore's names are accepted too (``aws_endpoint``, ``aws_region``,
    ``virtual_hosted_style_request``, ...): see ``ALIASES`` and ``OBSTORE_OPTIONS``.
    """

    scheme = "s3"
    ALIASES: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("aws_bucket", "aws_bucket_name", "bucket_name"), "bucket"),
        **dict.fromkeys(
            ("aws_endpoint", "aws_endpoint_url", "endpoint_url", "aws_endpoint_url_s3"), "endpoint"
        ),
        **dict.fromkeys(("aws_region", "aws_default_region", "default_region"), "region"),
        "aws_access_key_id": "access_key_id",
        "aws_secret_access_key": "secret_access_key",
        **dict.fromkeys(("aws_session_token", "aws_token", "token"), "session_token"),
        **dict.fromkeys(
            ("sse_customer_key_base64", "aws_sse_customer_key_base64"), "sse_customer_key"
        ),
        "aws_server_side_encryption": "server_side_encryption",
        "aws_sse_kms_key_id": "sse_kms_key_id",
        "aws_sse_bucket_key_enabled": "sse_bucket_key_enabled",
    }
    OBSTORE_OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "aws_virtual_hosted_style_request", "virtual_hosted_style_request", "aws_s3_express",
            "s3_express", "aws_imdsv1_fallback", "imdsv1_fallback", "aws_metadata_endpoint",
            "metadata_endpoint", "aws_unsigned_payload", "unsigned_payload",
            "aws_checksum_algorithm", "checksum_algorithm",
            "aws_container_credentials_relative_uri", "container_credentials_relative_uri",
            "aws_container_credentials_full_uri", "container_credentials_full_uri",
            "aws_container_authorization_token_file", "container_authorization_token_file",
            "aws_web_identity_token_file", "web_identity_token_file", "aws_role_arn", "role_arn",
            "aws_role_session_name", "role_session_name", "aws_endpoint_url_sts",
            "endpoint_url_sts", "aws_skip_signature", "skip_signature", "aws_copy_if_not_exists",
            "copy_if_not_exists", "aws_conditional_put", "conditional_put", "aws_disable_tagging",
            "disable_tagging", "aws_disable_bulk_delete", "disable_bulk_delete",
            "aws_request_payer", "request_payer", "aws_allow_http",
        }
    )  # fmt: skip
    OBSTORE_PREFIX = "aws_"

    endpoint: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    force_path_style: bool = False
    compression: Literal["zstd", "none"] | None = None
    batch_delete: bool = True
    ranged_reads: bool = False
    """Off by default: measured on moto, one stream per file restores 3x faster than
    parallel ranges (moto reads the whole object for each range); on AWS S3 ranges
    are served in proportion, and ``ranged_reads=true`` lets a restore use them."""
    sse_customer_key: SecretStr | None = None
    """SSE-C: the base64 AES-256 key sent with every object read and write (Camunda's
    ``ssecKey``); S3 keeps only its hash, so every reader needs the same key."""
    server_side_encryption: Literal["AES256", "aws:kms", "aws:kms:dsse", "sse-c"] | None = None
    """The encryption new objects ask for (default: the bucket's); ``sse-c`` with a key."""
    sse_kms_key_id: str | None = None
    """The KMS key of ``aws:kms`` (``aws:kms:dsse``) writes (default: the bucket's)."""
    sse_bucket_key_enabled: bool | None = None
    """Whether KMS writes use an S3 bucket key (default: the bucket's setting)."""

    _customer_key = field_validator("sse_customer_key")(check_customer_key)

    @model_validator(mode="after")
    def _encryption(self) -> S3Config:
        if self.sse_customer_key is not None and self.server_side_encryption is None:
            object.__setattr__(self, "server_side_encryption", "sse-c")  # a key means SSE-C
        if (self.server_side_encryption == "sse-c") != (self.sse_customer_key is not None):
            raise ValueError(
                "sse_customer_key cannot be combined with server_side_encryption="
                f"{self.server_side_encryption}"
                if self.sse_customer_key is not None
                else "server_side_encryption=sse-c needs sse_customer_key"
            )
        kms = self.server_side_encryption in ("aws:kms", "aws:kms:dsse")
        for name in ("sse_kms_key_id", "sse_bucket_key_enabled"):
            if getattr(self, name) is not None and not kms:
                raise ValueError(f"{name} needs server_side_encryption=aws:kms (or aws:kms:dsse)")
        return self

    @property
    def endpoint_url(self) -> str | None:
        # An endpoint from the environment is as explicit as one given here: it is
        # shown in the description and, if plain http, allowed.
        return self.endpoint or next(
            (os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)), None
        )

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
        if self.server_side_encryption is not None:
            config["server_side_encryption"] = self.server_side_encryption
        if self.sse_customer_key is not None:
            config["sse_customer_key_base64"] = self.sse_customer_key.get_secret_value()
        if self.sse_kms_key_id is not None:
            config["sse_kms_key_id"] = self.sse_kms_key_id
        if self.sse_bucket_key_enabled is not None:
            config["sse_bucket_key_enabled"] = self.sse_bucket_key_enabled
        return config


class S3BackupStore(ObjectBackupStore):
    """Backups in an S3 bucket, in Zeebe's S3 layout and manifest form."""

    def __init__(self, config: S3Config, *, object_store: ObjectStore | None = None) -> None:
        self.config = config
        io = ObstoreIO(
            config.open_obstore("S3", S3Store) if object_store is None else object_store,
            description=config.description(),
            reach=config.copy_reach(),
            batch_delete=config.batch_delete,
            customer_key=config.sse_customer_key is not None,
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
register("s3a", from_url, S3Config, S3BackupStore)  # obstore's (Hadoop's) spelling
