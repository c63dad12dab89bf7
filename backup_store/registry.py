"""The scheme registry: store URLs and configurations to stores.

======================================= =========================================
URL                                     store
======================================= =========================================
``file:///abs/path``                    filesystem store at that directory
``s3://bucket[/base]?endpoint=&...``    S3 (options: :class:`~backup_store.S3Config`)
``gs://bucket[/base]?host=&...``        GCS (options: :class:`~backup_store.GcsConfig`)
``az://container?endpoint=&...``        Azure (options: :class:`~backup_store.AzureConfig`)
``memory://[base]``                     in-memory store (tests)
======================================= =========================================

obstore's spellings work too: ``s3a://``, ``azure://``, ``abfs[s]://`` and
``https://<account>.blob.core.windows.net/<container>`` (Azure's hosts only), as
do obstore's option names (``aws_endpoint``, ``azure_storage_account_name``, ...).

Each backend module ends with one line, ``register(scheme, from_url, Config,
StoreClass)``. Packages outside this one register theirs through the entry-point
group ``backup_store.backends``: each entry point names a module (or a callable)
that, when loaded, calls :func:`register`.

Query options are the configuration fields of each store; credentials may be
given there or, better, in the environment, and are never printed back.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import SplitResult, urlsplit

from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import ConfigurationError

ENTRY_POINT_GROUP = "backup_store.backends"
BUILT_IN = ("filesystem", "memory", "s3", "gcs", "azure")
"""Modules of :mod:`backup_store.stores` that register a scheme."""

UrlFactory = Callable[[SplitResult], InspectableStore]
ConfigFactory = Callable[[Any], InspectableStore]


@dataclass(frozen=True)
class Backend:
    """A registered store backend."""

    scheme: str
    from_url: UrlFactory
    config_type: type[Any] | None
    from_config: ConfigFactory | None


_backends: dict[str, Backend] = {}
_loaded = False


def register(
    scheme: str,
    from_url: UrlFactory,
    config_type: type[Any] | None = None,
    from_config: ConfigFactory | None = None,
) -> None:
    """Register a store backend under a URL scheme (a later registration replaces it).

    Args:
        scheme: the URL scheme, without ``://``.
        from_url: builds the store from a parsed URL.
        config_type: the backend's configuration class, if it has one.
        from_config: builds the store from such a configuration.
    """
    _backends[scheme] = Backend(scheme, from_url, config_type, from_config)


def _load() -> None:
    """Import the built-in backends and the installed outside ones, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in BUILT_IN:
        importlib.import_module(f"backup_store.stores.{name}")
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry_point.load()
        if callable(loaded):
            loaded()


def backends() -> dict[str, Backend]:
    """Every registered backend, by scheme."""
    _load()
    return dict(_backends)


def open_store(url: str) -> InspectableStore:
    """Open the store a URL names.

    Raises:
        ConfigurationError: unknown scheme or malformed URL (the message never
            repeats credentials given in the URL).
    """
    parsed = urlsplit(url)
    backend = backends().get(parsed.scheme)
    if backend is None:
        known = ", ".join(f"{s}://" for s in sorted(_backends))
        raise ConfigurationError(f"unknown store URL scheme {parsed.scheme + '://'!r}; use {known}")
    return backend.from_url(parsed)


def open_config(config: object) -> InspectableStore:
    """Open the store a configuration object (``S3Config``, ...) describes.

    Raises:
        ConfigurationError: no registered backend takes this configuration type.
    """
    for backend in backends().values():
        if (
            backend.config_type is not None
            and backend.from_config is not None
            and isinstance(config, backend.config_type)
        ):
            return backend.from_config(config)
    raise ConfigurationError(f"no store backend takes a {type(config).__name__}")
