"""How backup states look in tables: one style per state."""

from __future__ import annotations

from rich.text import Text

from backup_store.model import BackupStatus

STATE_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "INCOMPLETE": "yellow",
    "IN_PROGRESS": "cyan",
    "DOES_NOT_EXIST": "dim",
}


def styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def status_cell(status: BackupStatus) -> Text:
    """A partition backup's status; a damaged manifest is marked as such."""
    cell = styled(status.status_code.value)
    if status.damaged:
        cell.append(" (damaged manifest)", style="bold red")
    return cell
