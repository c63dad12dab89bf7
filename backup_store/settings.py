"""Deprecated: re-exports :mod:`backup_store.service.settings`."""

from backup_store.service.settings import (
    CAMUNDA_ONLY_SETTINGS,
    CAMUNDA_PREFIX,
    NODE_ID_VARIABLES,
    SECRET_SETTINGS,
    SETTINGS,
    STORE_TYPES,
    URL_VARIABLE,
    ZEEBE_COMPRESSIONS,
    ZEEBE_PREFIX,
    CommandLineStoreError,
    NoStoreError,
    ServeEnvironment,
    Settings,
    StoreChoice,
    choose_node_id,
    choose_store,
)

__all__ = [
    "CAMUNDA_ONLY_SETTINGS",
    "CAMUNDA_PREFIX",
    "NODE_ID_VARIABLES",
    "SECRET_SETTINGS",
    "SETTINGS",
    "STORE_TYPES",
    "URL_VARIABLE",
    "ZEEBE_COMPRESSIONS",
    "ZEEBE_PREFIX",
    "CommandLineStoreError",
    "NoStoreError",
    "ServeEnvironment",
    "Settings",
    "StoreChoice",
    "choose_node_id",
    "choose_store",
]
