"""The ``backup-store`` command line."""

from __future__ import annotations

import click

from backup_store.cli.analyze import analyze_command
from backup_store.cli.catalog import catalog_group
from backup_store.cli.config import config_command
from backup_store.cli.delete import delete_command
from backup_store.cli.group import ScrubbingGroup
from backup_store.cli.list import list_command
from backup_store.cli.migrate import migrate_command
from backup_store.cli.prune import prune_command
from backup_store.cli.restore import restore_command
from backup_store.cli.status import status_command
from backup_store.cli.verify import verify_command


@click.group(cls=ScrubbingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="backup-store")
def main() -> None:
    """Zeebe-compatible backup stores: serve the management API, inspect and move backups.

    Store URLs: file:///abs/path, s3://bucket/base?endpoint=..&region=..,
    gs://bucket/base, az://container, memory:// (tests); obstore's forms and
    option names work too (s3a://, abfs://, https://<account>.blob.core.windows.net/
    <container>, aws_endpoint=...). Credentials may be given as URL options or,
    better, in the provider's usual environment variables; they are never
    printed. Any URL argument may be given as env:NAME to read it from the
    environment variable NAME. Left out, the store is BACKUP_STORE_URL's, else the
    one Zeebe's own variables describe (ZEEBE_BROKER_DATA_BACKUP_*,
    CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_*); 'backup-store config' shows which.

    Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 analyze could
    not reach the store, 130 interrupted (Ctrl-C).
    """


for _command in (
    config_command,
    list_command,
    status_command,
    restore_command,
    verify_command,
    delete_command,
    migrate_command,
    catalog_group,
    prune_command,
    analyze_command,
):
    main.add_command(_command)
# ``serve`` is loaded only when used: the web stack costs every other command time.
main.add_lazy_command("serve", "backup_store.cli.serve", "serve")
