"""The ``backup-store`` command line."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="backup-store")
def main() -> None:
    """Zeebe-compatible backup stores: serve the management API, inspect and move backups."""


@main.command()
def serve() -> None:
    """Serve the Backup Management API (not yet available)."""
    click.echo("backup-store serve: not yet available")
