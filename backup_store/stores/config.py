"""Settings shared by the cloud store configurations."""

from __future__ import annotations

import base64
import binascii
import difflib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import SplitResult, parse_qs, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from backup_store.engine import DEFAULT_MAX_CONCURRENCY
from backup_store.errors import ConfigurationError, describe_error
from backup_store.format.keys import check_base_path
from backup_store.io import (
    DEFAULT_IDLE_SECONDS,
    DEFAULT_METADATA_SECONDS,
    DEFAULT_PART_CONCURRENCY,
    DEFAULT_PART_SIZE,
    CopyReach,
    Deadlines,
)

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

S = TypeVar("S")


def _problems(error: ValidationError) -> str:
    # Field names and reasons only: the offending values may be credentials.
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


CLIENT_OPTIONS = frozenset(
    {
        "allow_http", "allow_invalid_certificates", "disable_system_certificates",
        "connect_timeout", "default_content_type", "http1_only", "http2_only",
        "http2_keep_alive_interval", "http2_keep_alive_timeout", "http2_keep_alive_while_idle",
        "http2_max_frame_size", "pool_idle_timeout", "pool_max_idle_per_host", "proxy_url",
        "proxy_ca_certificate", "proxy_excludes", "randomize_addresses", "read_timeout",
        "timeout", "user_agent",
    }
)  # fmt: skip
"""obstore's HTTP client options, accepted by every cloud store (also with the store's
prefix, ``aws_timeout``); they go to obstore's ``client_options``."""


class StoreConfig(BaseModel):
    """Base of store configurations: frozen, no unknown options, typed errors.

    Besides its own field names, a configuration accepts obstore's option names
    for the same store: those in ``ALIASES`` set one of our fields, any other
    key obstore accepts (``OBSTORE_OPTIONS``) is handed to obstore unchanged.
    Anything else is refused with the list of valid names.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ALIASES: ClassVar[Mapping[str, str]] = {}
    """obstore's name of an option -> the field it sets here."""
    OBSTORE_OPTIONS: ClassVar[frozenset[str]] = frozenset()
    """Other obstore option names of this store, passed through (``obstore_options``)."""
    OBSTORE_PREFIX: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        values = self._accept_aliases(values)
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigurationError(f"invalid {type(self).__name__}: {_problems(error)}") from None

    @classmethod
    def option_names(cls) -> list[str]:
        """Every option name this configuration accepts (ours first, then obstore's)."""
        ours = [name for name in cls.model_fields if name != "obstore_options"]
        theirs = sorted((set(cls.ALIASES) | cls.obstore_option_names()) - set(ours))
        return ours + theirs

    @classmethod
    def obstore_option_names(cls) -> frozenset[str]:
        if not cls.OBSTORE_OPTIONS:
            return frozenset()
        prefixed = {cls.OBSTORE_PREFIX + name for name in CLIENT_OPTIONS}
        return cls.OBSTORE_OPTIONS | CLIENT_OPTIONS | prefixed

    @classmethod
    def _accept_aliases(cls, values: dict[str, Any]) -> dict[str, Any]:
        accepted: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        passed: dict[str, Any] = dict(values.pop("obstore_options", None) or {})
        ours = set(cls.model_fields) - {"obstore_options"}
        for key, value in values.items():
            name = key.lower()
            if name in ours or name in cls.ALIASES:
                field = cls.ALIASES.get(name, name)
                if field in given_as:
                    raise ConfigurationError(
                        f"option {key!r} sets {field!r}, already given as {given_as[field]!r}"
                    )
                given_as[field] = key
                accepted[field] = value
            elif name in cls.obstore_option_names():
                passed[name] = value
            else:
                raise ConfigurationError(cls._unknown_option(key))
        if passed:
            accepted["obstore_options"] = {
                name: value if isinstance(value, SecretStr) else SecretStr(str(value))
                for name, value in passed.items()
            }
        return accepted

    @classmethod
    def _unknown_option(cls, key: str) -> str:
        names = cls.option_names()
        close = difflib.get_close_matches(key.lower(), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown option {key!r} for {cls.__name__}{hint}; valid options: {', '.join(names)}"


class TransferSettings(StoreConfig):
    """How a cloud store moves data: bounded concurrency, part size, retries."""

    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1, le=256)
    part_size: int = Field(default=DEFAULT_PART_SIZE, ge=5 * 1024 * 1024)
    part_concurrency: int = Field(default=DEFAULT_PART_CONCURRENCY, ge=1, le=64)
    ranged_reads: bool = True
    """A restore reads a plain file over two parts in ``part_concurrency`` parallel
    ranges (off where measurement said one stream is faster: see the S3 store)."""
    max_retries: int = Field(default=3, ge=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    request_timeout_seconds: float = Field(default=300.0, gt=0)
    metadata_timeout_seconds: float = Field(default=DEFAULT_METADATA_SECONDS, gt=0)
    """Overall deadline of a manifest read or write, a listing page, a delete."""
    idle_timeout_seconds: float = Field(default=DEFAULT_IDLE_SECONDS, gt=0)
    """A transfer fails when no byte moved for this long (never a total deadline)."""

    def client_options(self, endpoint: str | None) -> ClientConfig:
        options: ClientConfig = {
            "connect_timeout": timedelta(seconds=self.connect_timeout_seconds),
            "timeout": timedelta(seconds=self.request_timeout_seconds),
        }
        if endpoint is not None and endpoint.startswith("http://"):
            options["allow_http"] = True
        return options

    def retry_config(self) -> RetryConfig:
        return {"max_retries": self.max_retries, "retry_timeout": timedelta(seconds=60)}

    def io_options(self) -> dict[str, Any]:
        """Multipart and deadline keyword arguments for :class:`~backup_store.io.ObstoreIO`."""
        return {
            "part_size": self.part_size,
            "part_concurrency": self.part_concurrency,
            "ranged_reads": self.ranged_reads,
            "deadlines": Deadlines(self.metadata_timeout_seconds, self.idle_timeout_seconds),
        }


class CloudConfig(TransferSettings):
    """What every cloud configuration provides to build its obstore store."""

    obstore_options: dict[str, SecretStr] = Field(default_factory=dict)
    """obstore options without a field of ours, by obstore's name (values never printed)."""

    def _passed_options(self, *, client: bool) -> dict[str, str]:
        """The pass-through options that are (or are not) HTTP client options."""
        out = {}
        for name, value in self.obstore_options.items():
            bare = name.removeprefix(self.OBSTORE_PREFIX)
            if (bare in CLIENT_OPTIONS) == client:
                out[bare if client else name] = value.get_secret_value()
        return out

    @model_validator(mode="after")
    def _endpoint_without_credentials(self) -> CloudConfig:
        endpoint = self.endpoint_url
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("the endpoint must be an http(s) URL")
            if parts.username or parts.password or parts.query:
                # Credentials have their own (secret) options; an endpoint is printed.
                raise ValueError("the endpoint must not carry credentials or a query string")
        return self

    @property
    def endpoint_url(self) -> str | None:
        """A custom service URL (emulator, S3-compatible service), if any."""
        return None

    @property
    def location(self) -> str:
        """The store's URL without options, e.g. ``s3://bucket/base``."""
        raise NotImplementedError

    def obstore_config(self) -> Any:
        raise NotImplementedError

    def description(self) -> str:
        """How the store is named in errors and logs: never credentials."""
        where = endpoint_for_display(self.endpoint_url)
        return self.location + (f" at {where}" if where else "")

    def open_obstore(self, label: str, store_class: Callable[..., S]) -> S:
        return build_obstore(
            label,
            lambda: store_class(
                config={**self.obstore_config(), **self._passed_options(client=False)},
                client_options={
                    **self.client_options(self.endpoint_url),
                    **self._passed_options(client=True),
                },
                retry_config=self.retry_config(),
            ),
        )


class BucketConfig(CloudConfig):
    """A cloud configuration addressing ``<scheme>://bucket/base_path`` (S3, GCS)."""

    scheme: ClassVar[str]

    bucket: str
    base_path: str | None = None

    def __init__(self, bucket: str | None = None, /, **values: Any) -> None:
        # Allow Config("name", ...) as well as Config(bucket="name", ...).
        if bucket is not None:
            values["bucket"] = bucket
        super().__init__(**values)

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, value: str | None) -> str | None:
        return check_base_path(value)

    @property
    def location(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.base_path or ''}"

    def copy_reach(self) -> CopyReach:
        """What the store's copies reach: every key of the bucket at this service,
        whatever the base path (the keys hold it)."""
        return CopyReach(
            f"{self.scheme} {endpoint_for_display(self.endpoint_url)} {self.bucket}", ""
        )


CUSTOMER_KEY_BYTES = 32
"""A customer-provided key (S3 SSE-C, Azure CPK) is an AES-256 key: 32 bytes."""


def check_customer_key(value: SecretStr | None) -> SecretStr | None:
    """A base64 customer-provided key decoding to exactly 32 bytes, as Camunda checks
    its S3 ``ssecKey`` (its messages); the key itself never appears in them."""
    if value is None:
        return None
    text = value.get_secret_value().strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError("SSE-C key must be valid base64.") from None
    if len(raw) != CUSTOMER_KEY_BYTES:
        raise ValueError(
            f"SSE-C key must decode to exactly {CUSTOMER_KEY_BYTES} bytes (AES-256) "
            f"but was {len(raw)} bytes."
        )
    return SecretStr(base64.b64encode(raw).decode("ascii"))


def endpoint_for_display(endpoint: str | None) -> str:
    """An endpoint without user info or query (which may hold credentials)."""
    if not endpoint:
        return ""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def url_options(url: SplitResult) -> dict[str, str]:
    """Query options of a store URL (last value wins)."""
    return {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}


def url_base_path(url: SplitResult) -> str | None:
    return url.path.strip("/") or None


def build_obstore(label: str, factory: Callable[[], S]) -> S:
    """Construct an obstore store; its refusals become configuration errors."""
    try:
        return factory()
    except Exception as error:
        raise ConfigurationError(
            f"invalid {label} store configuration: {describe_error(error)}"
        ) from None
