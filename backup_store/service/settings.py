"""Which backup store ``serve`` uses: the command line, our variables, or Zeebe's own.

Operators already describe Zeebe's backup store with environment variables; the
same variables configure this service, read as Zeebe 8.7 reads them:

- ``ZEEBE_BROKER_DATA_BACKUP_STORE`` (``S3``, ``GCS``, ``AZURE``, ``FILESYSTEM``,
  ``NONE``) and ``ZEEBE_BROKER_DATA_BACKUP_{S3,GCS,AZURE,FILESYSTEM}_*``;
- Camunda 8.8+'s ``CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_*`` with the same meanings.

The same resolution serves ``serve`` and every CLI command. Precedence, highest
first: the URL given on the command line (``--store`` or a ``STORE_URL``
argument), our own variable ``BACKUP_STORE_URL``, ``CAMUNDA_*``,
``ZEEBE_BROKER_*``, then ``serve``'s default (a filesystem store under
``./backups``; the other commands have none and say what to set). A
``CAMUNDA_*`` and a ``ZEEBE_BROKER_*`` variable giving one setting different
values is refused, naming both; an unknown ``..._BACKUP_*`` variable is an error
naming the nearest known one; a value Zeebe would refuse is an error, with
Zeebe's message. The mapping onto our settings is documented in
``docs/operator-guide.md``.

The node id is resolved the same way (:func:`choose_node_id`): ``--node-id``,
else ``CAMUNDA_CLUSTER_NODEID`` (Camunda 8.8+), else ``ZEEBE_BROKER_CLUSTER_NODEID``,
else 0.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import ConfigurationError, InvalidInputError, scrub
from backup_store.model import MAX_INT, parse_decimal_id
from backup_store.operations import resolve_store_url
from backup_store.registry import open_config, open_store
from backup_store.stores.azure import AzureConfig
from backup_store.stores.config import StoreConfig
from backup_store.stores.filesystem import FilesystemConfig
from backup_store.stores.gcs import GcsConfig
from backup_store.stores.s3 import S3Config
from backup_store.units import parse_duration

ZEEBE_PREFIX = "ZEEBE_BROKER_DATA_BACKUP_"
CAMUNDA_PREFIX = "CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_"
STORE_TYPES = ("S3", "GCS", "AZURE", "FILESYSTEM", "NONE")

SETTINGS: dict[str, tuple[str, ...]] = {
    "S3": (
        "BUCKETNAME", "ENDPOINT", "REGION", "ACCESSKEY", "SECRETKEY", "BASEPATH",
        "FORCEPATHSTYLEACCESS", "COMPRESSION", "MAXCONCURRENTCONNECTIONS", "APICALLTIMEOUT",
        "CONNECTIONACQUISITIONTIMEOUT", "SUPPORTLEGACYMD5", "SSECKEY",
    ),
    "GCS": ("BUCKETNAME", "BASEPATH", "HOST", "AUTH", "MAXCONCURRENTTRANSFERS"),
    "AZURE": (
        "ENDPOINT", "ACCOUNTNAME", "ACCOUNTKEY", "CONNECTIONSTRING", "BASEPATH",
        "CREATECONTAINER", "SASTOKEN_TYPE", "SASTOKEN_VALUE",
    ),
    "FILESYSTEM": ("BASEPATH",),
}  # fmt: skip
"""Zeebe's settings per store, as environment-variable suffixes (``S3_BUCKETNAME``)."""

SECRET_SETTINGS = frozenset(
    {"S3_ACCESSKEY", "S3_SECRETKEY", "S3_SSECKEY", "AZURE_ACCOUNTKEY",
     "AZURE_CONNECTIONSTRING", "AZURE_SASTOKEN_VALUE"}
)  # fmt: skip

# Commons Compress's names that Zeebe can both write and read (S3 COMPRESSION).
ZEEBE_COMPRESSIONS = (
    "bzip2", "deflate", "gz", "lz4-block", "lz4-framed", "lzma", "snappy-framed", "xz", "zstd",
)  # fmt: skip


class ServeEnvironment(BaseSettings):
    """Our own variables for the store (prefix ``BACKUP_STORE_``); a URL argument wins.

    ``BACKUP_STORE_URL``: the store URL, as ``--store`` takes it (``none`` disables
    backup). The bearer token is ``BACKUP_STORE_TOKEN`` (read by ``--token``).
    """

    model_config = SettingsConfigDict(env_prefix="BACKUP_STORE_", extra="ignore")

    url: str | None = None


URL_VARIABLE = "BACKUP_STORE_URL"
MAX_BANDWIDTH_VARIABLE = "BACKUP_STORE_MAX_BANDWIDTH"
"""``serve --max-bandwidth``: bytes per second of every transfer together (``50MB``)."""
LOW_DISK_PRIORITY_VARIABLE = "BACKUP_STORE_LOW_DISK_PRIORITY"
"""``serve --low-disk-priority``: transfer threads in Linux's idle I/O class (``true``)."""
NODE_ID_VARIABLES = ("CAMUNDA_CLUSTER_NODEID", "ZEEBE_BROKER_CLUSTER_NODEID")
"""Where a broker's node id is set, Camunda 8.8+'s name first."""

CAMUNDA_ONLY_SETTINGS = frozenset(
    {"SCHEDULE", "RETENTION_WINDOW", "RETENTION_CLEANUPSCHEDULE", "CONTINUOUS",
     "CHECKPOINTINTERVAL"}
)  # fmt: skip
"""Camunda 8.8+'s backup settings beyond the store (``serve`` reads the first three
through its options; the others concern the broker's own checkpoints)."""


class CommandLineStoreError(ConfigurationError):
    """The store URL given on the command line is wrong (not a variable)."""


class NoStoreError(ConfigurationError):
    """No URL and no store variable: nothing says which store to use."""


@dataclass
class StoreChoice:
    """The store a command uses and why.

    Attributes:
        source: what chose it (``--store``, ``STORE_URL``, ``BACKUP_STORE_URL``,
            ``ZEEBE_BROKER_DATA_BACKUP_*``, ``default``...); never a value.
        open: opens the store (``None``: backup disabled, Zeebe's ``NONE``).
        warnings: to show at start (ignored settings).
        settings: ``(variable, value)`` of every variable that configured it, secrets
            masked, for ``backup-store config``.
        from_command_line: the source is the command's own argument or option.
        folder: the folder of a filesystem store (commands that only read check
            that it exists before opening, which would create it).
    """

    source: str
    open: Callable[[], InspectableStore] | None
    warnings: list[str] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)
    from_command_line: bool = False
    folder: Path | None = None


@dataclass(frozen=True)
class _Value:
    variable: str
    value: str


def choose_store(
    option: str | None,
    *,
    default_directory: Path | None,
    given_as: str = "--store",
) -> StoreChoice:
    """Decide the store from a URL given on the command line (``option``, named
    ``given_as`` in messages) and the environment.

    ``option`` is a store URL or ``env:NAME`` (``none`` disables backup). Without a
    URL and without store variables the store is a filesystem store under
    ``default_directory`` (``serve``), or, when that is ``None``, :class:`NoStoreError`.
    Nothing is opened or created here.

    A URL given on the command line or in ``BACKUP_STORE_URL`` wins over the
    Zeebe/Camunda variables, which are then not read at all (a warning says so).

    Raises:
        CommandLineStoreError: the command-line URL is ``env:NAME`` with NAME unset.
        ConfigurationError: conflicting ``CAMUNDA_*``/``ZEEBE_BROKER_*`` values, an
            unknown backup variable, or a value Zeebe would refuse (Zeebe's own
            message where it has one); each names the variable.
        NoStoreError: nothing names a store and there is no default.
    """
    warnings: list[str] = []
    for source, url in ((given_as, option), (URL_VARIABLE, ServeEnvironment().url)):
        if url:
            url = _resolve_url(url, source)
            if _sets_store_variables(os.environ):
                warnings.append(f"the Zeebe/Camunda backup variables are ignored: {source} wins")
            return StoreChoice(
                source,
                _url_opener(url),
                warnings,
                [(source, scrub(url))],
                from_command_line=source == given_as,
                folder=_url_folder(url),
            )
    zeebe = _collect(os.environ, ZEEBE_PREFIX)
    camunda = _collect(os.environ, CAMUNDA_PREFIX)
    merged = dict(zeebe)
    for key, given in camunda.items():
        other = zeebe.get(key)
        if other is not None and _normal(key, other.value) != _normal(key, given.value):
            raise ConfigurationError(
                f"{given.variable} and {other.variable} set {key} to different values; "
                "remove one of them"
            )
        merged[key] = given
    for key in CAMUNDA_ONLY_SETTINGS:
        merged.pop(key, None)
    store_type = merged.get("STORE")
    if store_type is None:
        if merged:
            some = next(iter(merged.values())).variable
            raise ConfigurationError(
                f"{some} is set but {ZEEBE_PREFIX}STORE (or {CAMUNDA_PREFIX}STORE) is not: "
                "set it to S3, GCS, AZURE or FILESYSTEM"
            )
        if default_directory is None:
            raise NoStoreError(
                f"no backup store given: pass {given_as}, set {URL_VARIABLE}, or set "
                f"{ZEEBE_PREFIX}STORE (or {CAMUNDA_PREFIX}STORE) and its settings"
            )
        default = default_directory.absolute().as_uri()
        return StoreChoice("default", _url_opener(default), warnings, [("default", default)])
    source = store_type.variable.removesuffix("STORE") + "*"
    kind = _enum(store_type, STORE_TYPES)
    shown = [(v.variable, _masked(key, v.value)) for key, v in sorted(merged.items())]
    if kind == "NONE":
        return StoreChoice(source, None, warnings, shown)
    settings = {key.split("_", 1)[1]: v for key, v in merged.items() if key.startswith(kind + "_")}
    ignored = sorted(
        v.variable for key, v in merged.items() if key != "STORE" and not key.startswith(kind + "_")
    )
    if ignored:
        warnings.append(f"ignored (the store is {kind}): {', '.join(ignored)}")
    if kind == "S3" and "SUPPORTLEGACYMD5" in settings:
        warnings.append(f"{settings['SUPPORTLEGACYMD5'].variable} has no effect here")
    try:
        config = _BUILDERS[kind](settings, warnings)
    except ConfigurationError as error:
        raise ConfigurationError(
            f"Failed configuring backup store {kind}: {error.message}"
        ) from None
    folder = config.base_path if isinstance(config, FilesystemConfig) else None
    return StoreChoice(source, lambda: open_config(config), warnings, shown, folder=folder)


def choose_node_id(option: int | None) -> tuple[int, str]:
    """This node's id and what set it: ``--node-id``, ``CAMUNDA_CLUSTER_NODEID``,
    ``ZEEBE_BROKER_CLUSTER_NODEID``, else 0 (``default``).

    Raises:
        ConfigurationError: a value that is not a node id, or the two variables
            set to different ids (as Camunda refuses ambiguous legacy settings).
    """
    if option is not None:
        return option, "--node-id"
    found: list[tuple[int, str]] = []
    for variable in NODE_ID_VARIABLES:
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            found.append((parse_decimal_id(text.strip(), "node id", 0, MAX_INT), variable))
        except InvalidInputError as error:
            raise ConfigurationError(f"{variable}: {error.message}") from None
    if len(found) == 2 and found[0][0] != found[1][0]:
        raise ConfigurationError(
            f"{found[0][1]}={found[0][0]} and {found[1][1]}={found[1][0]} differ; "
            "remove one of them"
        )
    return found[0] if found else (0, "default")


def _collect(environ: Mapping[str, str], prefix: str) -> dict[str, _Value]:
    """``{"S3_BUCKETNAME": _Value(...)}`` of the variables under ``prefix``.

    Raises:
        ConfigurationError: a variable under ``prefix`` that no version configures,
            naming the nearest known variable (a misspelt name must not fall back
            to another store).
    """
    known = _known_settings(prefix)
    found: dict[str, _Value] = {}
    for variable in sorted(environ):
        if not variable.upper().startswith(prefix):
            continue
        key = variable.upper()[len(prefix) :].replace("-", "")
        if key not in known:
            everything = [p + k for p in (ZEEBE_PREFIX, CAMUNDA_PREFIX) for k in _known_settings(p)]
            nearest = difflib.get_close_matches(variable.upper(), everything, n=1, cutoff=0.6)
            hint = f"did you mean {nearest[0]}?" if nearest else "see docs/operator-guide.md"
            raise ConfigurationError(f"{variable} is not a backup setting: {hint}")
        found[key] = _Value(variable, environ[variable])
    return found


def _sets_store_variables(environ: Mapping[str, str]) -> bool:
    for name in environ:
        for prefix in (ZEEBE_PREFIX, CAMUNDA_PREFIX):
            key = name.upper().removeprefix(prefix)
            if key != name.upper() and key not in CAMUNDA_ONLY_SETTINGS:
                return True
    return False


def _known_settings(prefix: str) -> list[str]:
    known = ["STORE"] + [f"{kind}_{name}" for kind, names in SETTINGS.items() for name in names]
    return known + sorted(CAMUNDA_ONLY_SETTINGS) if prefix == CAMUNDA_PREFIX else known


def _masked(key: str, value: str) -> str:
    return "***" if key in SECRET_SETTINGS else value


def _resolve_url(url: str, source: str) -> str:
    try:
        return resolve_store_url(url)
    except ConfigurationError as error:
        if source == URL_VARIABLE:
            raise ConfigurationError(f"{source}: {error.message}") from None
        raise CommandLineStoreError(error.message) from None


def _normal(key: str, value: str) -> str:
    # Spring compares converted values: enums and booleans ignore case.
    if key in ("STORE", "GCS_AUTH", "AZURE_SASTOKEN_TYPE") or _is_boolean(key):
        return value.strip().upper()
    return value


def _is_boolean(key: str) -> bool:
    return key in ("S3_FORCEPATHSTYLEACCESS", "S3_SUPPORTLEGACYMD5", "AZURE_CREATECONTAINER")


def _url_folder(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        return None  # not a filesystem store, or a malformed one its backend refuses
    return Path(unquote(parts.path))


def _url_opener(url: str) -> Callable[[], InspectableStore] | None:
    if url == "none":
        return None
    return lambda: open_store(url)


# ---------------------------------------------------------------- Spring's conversions


def _enum(given: _Value, allowed: tuple[str, ...]) -> str:
    """Spring's lenient enum binding: case-insensitive, ``-``/``_`` ignored."""
    value = given.value.strip().upper().replace("-", "").replace("_", "")
    if value not in allowed:
        raise ConfigurationError(
            f"{given.variable}: {given.value!r} is not one of {', '.join(allowed)}"
        )
    return value


def _boolean(given: _Value) -> bool:
    value = given.value.strip().lower()
    if value in ("true", "on", "yes", "1"):
        return True
    if value in ("false", "off", "no", "0"):
        return False
    raise ConfigurationError(f"{given.variable}: {given.value!r} is not true or false")


def _integer(given: _Value) -> int:
    try:
        return int(given.value.strip())
    except ValueError:
        raise ConfigurationError(f"{given.variable}: {given.value!r} is not a number") from None


def _duration(given: _Value) -> timedelta:
    """Spring's duration forms: ``180s``, ``5m``, ``500`` (milliseconds), ``PT3M``."""
    try:
        return parse_duration(given.value, what="", bare_unit="ms")
    except InvalidInputError as error:
        raise ConfigurationError(f"{given.variable}: {error}") from None


# ---------------------------------------------------------------- one builder per store


Settings = dict[str, _Value]


def _s3(settings: Settings, warnings: list[str]) -> StoreConfig:
    bucket = settings.get("BUCKETNAME")
    if bucket is None or not bucket.value:
        raise ConfigurationError("Bucket name must not be empty.")
    values: dict[str, Any] = {"bucket": bucket.value}
    for key, name in (("ENDPOINT", "endpoint"), ("REGION", "region")):
        if key in settings:
            values[name] = settings[key].value
    access, secret = settings.get("ACCESSKEY"), settings.get("SECRETKEY")
    if access is not None and secret is not None:
        values["access_key_id"], values["secret_access_key"] = access.value, secret.value
    elif access is not None or secret is not None:
        # As Zeebe: credentials are used only when both are given.
        given = (access or secret).variable  # type: ignore[union-attr]
        warnings.append(f"{given} is ignored without its pair: credentials come from AWS_*")
    if "BASEPATH" in settings:
        prefix = settings["BASEPATH"].value
        if not prefix:
            raise ConfigurationError(
                "basePath is set but empty. It must be either unset or not empty."
            )
        if prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigurationError(f"basePath must not start or end with '/' but was: {prefix}")
        values["base_path"] = prefix
    if "FORCEPATHSTYLEACCESS" in settings:
        values["force_path_style"] = _boolean(settings["FORCEPATHSTYLEACCESS"])
    if "COMPRESSION" in settings:
        values["compression"] = _compression(settings["COMPRESSION"])
    if "MAXCONCURRENTCONNECTIONS" in settings:
        values["max_concurrency"] = _integer(settings["MAXCONCURRENTCONNECTIONS"])
    if "APICALLTIMEOUT" in settings:
        values["request_timeout_seconds"] = _duration(settings["APICALLTIMEOUT"]).total_seconds()
    if "CONNECTIONACQUISITIONTIMEOUT" in settings:
        values["connect_timeout_seconds"] = _duration(
            settings["CONNECTIONACQUISITIONTIMEOUT"]
        ).total_seconds()
    if "SUPPORTLEGACYMD5" in settings:
        _boolean(settings["SUPPORTLEGACYMD5"])
    if "SSECKEY" in settings:
        values["sse_customer_key"] = settings["SSECKEY"].value
    config = S3Config(**values)
    return config


def _compression(given: _Value) -> str | None:
    value = given.value
    if value == "none":
        return None
    if value not in ZEEBE_COMPRESSIONS:
        supported = ", ".join(ZEEBE_COMPRESSIONS)
        raise ConfigurationError(
            f"Can't use compression algorithm {value}. Only supports [{supported}]"
        )
    if value != "zstd":
        raise ConfigurationError(
            f"{given.variable}: compression {value!r} is valid for Zeebe but not supported "
            "here; use zstd or none"
        )
    return value


def _gcs(settings: Settings, warnings: list[str]) -> StoreConfig:
    bucket = settings.get("BUCKETNAME")
    if bucket is None or not bucket.value.strip():
        raise ConfigurationError("bucketName must be provided")
    values: dict[str, Any] = {"bucket": bucket.value}
    if "BASEPATH" in settings:
        values["base_path"] = _gcs_base_path(settings["BASEPATH"].value)
    auth = _enum(settings["AUTH"], ("NONE", "AUTO")) if "AUTH" in settings else "AUTO"
    if "HOST" in settings:
        values["host"] = settings["HOST"].value
    elif auth == "NONE":
        values["skip_signature"] = "true"
    if "MAXCONCURRENTTRANSFERS" in settings:
        values["max_concurrency"] = _integer(settings["MAXCONCURRENTTRANSFERS"])
    config = GcsConfig(**values)
    return config


def _gcs_base_path(base_path: str) -> str | None:
    """Zeebe's GCS sanitizing: trimmed, leading and trailing slashes removed."""
    sanitized = base_path.strip()
    if not sanitized or sanitized == "/":
        return None
    sanitized = sanitized.strip("/")
    if not sanitized.strip():
        raise ConfigurationError(
            f"After removing leading and trailing '/' characters from basePath '{base_path}', "
            "the remainder is empty and not a valid base path"
        )
    return sanitized


def _azure(settings: Settings, warnings: list[str]) -> StoreConfig:
    def get(key: str) -> str | None:
        given = settings.get(key)
        return given.value if given is not None else None

    connection_string = get("CONNECTIONSTRING")
    if connection_string == "none":  # Zeebe's setter treats "none" as unset
        connection_string = None
    sas_type, sas_value = settings.get("SASTOKEN_TYPE"), get("SASTOKEN_VALUE")
    if (sas_type is None) != (sas_value is None):
        raise ConfigurationError("sasToken needs both a type and a value")
    account_token = sas_type is None or _enum(sas_type, ("DELEGATION", "SERVICE", "ACCOUNT")) == (
        "ACCOUNT"
    )
    if connection_string is None and get("ENDPOINT") is None:
        raise ConfigurationError("Connection string or endpoint is required")
    if get("ACCOUNTKEY") is not None and get("ACCOUNTNAME") is None:
        raise ConfigurationError("Account key is specified but account name is missing")
    if get("ACCOUNTNAME") is not None and get("ACCOUNTKEY") is None:
        raise ConfigurationError("Account name is specified but account key is missing")
    container = get("BASEPATH")
    if container is None:
        raise ConfigurationError("Container name cannot be null.")
    values: dict[str, Any] = {"container": container}
    for key, name in (("ENDPOINT", "endpoint"), ("ACCOUNTNAME", "account_name"),
                      ("ACCOUNTKEY", "account_key")):  # fmt: skip
        if get(key) is not None:
            values[name] = get(key)
    if connection_string is not None:
        values["connection_string"] = connection_string
    if sas_value is not None:
        values["sas_token"] = sas_value
    create = _boolean(settings["CREATECONTAINER"]) if "CREATECONTAINER" in settings else True
    # As Zeebe: delegation and service SAS tokens cannot create containers.
    values["create_container"] = create and account_token
    config = AzureConfig(**values)
    return config


def _filesystem(settings: Settings, warnings: list[str]) -> StoreConfig:
    base_path = settings.get("BASEPATH")
    if base_path is None or not base_path.value.strip():
        shown = None if base_path is None else base_path.value
        raise ConfigurationError(f"Expected a basePath to be provided, but got [{shown}]")
    config = FilesystemConfig(Path(base_path.value).absolute())
    return config


_BUILDERS: dict[str, Callable[[Settings, list[str]], StoreConfig]] = {
    "S3": _s3,
    "GCS": _gcs,
    "AZURE": _azure,
    "FILESYSTEM": _filesystem,
}
