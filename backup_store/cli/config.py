"""``backup-store config``: which store the commands use and where that came from."""

from __future__ import annotations

import click
from rich.text import Text

from backup_store.cli.opening import choose, open_choice
from backup_store.cli.output import emit_json, stdout_console
from backup_store.cli.params import json_option, store_url_argument
from backup_store.cli.running import USAGE, fail
from backup_store.errors import ConfigurationError
from backup_store.service.settings import choose_node_id


@click.command("config")
@store_url_argument
@json_option
def config_command(store_url: str | None, as_json: bool) -> None:
    """Show the store the commands use (and serve's node id), what chose them, and
    the variables read, secrets masked. Opens nothing over the network."""
    choice = choose(store_url, "STORE_URL")
    try:
        node_id, node_source = choose_node_id(None)
    except ConfigurationError as error:
        fail(error.message, USAGE)
    description: str | None = None
    if choice.open is not None and (choice.folder is None or choice.folder.is_dir()):
        store = open_choice(choice)
        description = store.description if store is not None else None
    elif choice.folder is not None:
        description = f"{choice.folder.as_uri()} (the folder does not exist)"
    if as_json:
        emit_json(
            {
                "store": description,
                "source": choice.source,
                "variables": dict(choice.settings),
                "nodeId": node_id,
                "nodeIdSource": node_source,
                "warnings": choice.warnings,
            }
        )
        return
    console = stdout_console()
    lines = [
        f"store:      {description or 'none (backup disabled)'}",
        f"chosen by:  {choice.source}",
        f"node id:    {node_id} ({node_source})",
    ]
    lines += [f"  {variable} = {value}" for variable, value in choice.settings]
    lines += [f"warning: {warning}" for warning in choice.warnings]
    for line in lines:
        console.print(Text(line))
