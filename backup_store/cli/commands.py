"""Deprecated: re-exports the commands of :mod:`backup_store.cli`, one module each."""

from backup_store.cli.catalog import catalog_group, catalog_rebuild_command
from backup_store.cli.config import config_command
from backup_store.cli.delete import delete_command
from backup_store.cli.list import list_command
from backup_store.cli.migrate import migrate_command
from backup_store.cli.params import (
    BACKUP_ID,
    NODE_ID,
    PARTITION_ID,
    STORE_URL_HELP,
    DecimalId,
    json_option,
    store_and_backup_id,
    store_url_argument,
)
from backup_store.cli.restore import RestoreBar, RestoreTarget, restore_command
from backup_store.cli.states import STATE_STYLE, status_cell, styled
from backup_store.cli.status import status_command
from backup_store.cli.verify import verify_command

__all__ = [
    "BACKUP_ID",
    "NODE_ID",
    "PARTITION_ID",
    "STATE_STYLE",
    "STORE_URL_HELP",
    "DecimalId",
    "RestoreBar",
    "RestoreTarget",
    "catalog_group",
    "catalog_rebuild_command",
    "config_command",
    "delete_command",
    "json_option",
    "list_command",
    "migrate_command",
    "restore_command",
    "status_cell",
    "status_command",
    "store_and_backup_id",
    "store_url_argument",
    "styled",
    "verify_command",
]
