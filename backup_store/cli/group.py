"""The command group: usage errors scrubbed of credentials, Ctrl-C as exit 130,
heavy commands loaded when used."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from backup_store.errors import scrub


class ScrubbingGroup(click.Group):
    """A click group whose usage errors never echo a credential back, whose Ctrl-C
    is one line and exit 130, and whose heavy commands load only when used.

    Click repeats offending arguments in usage errors ("unexpected extra
    argument (...)"); a misplaced store URL could carry secrets in its query.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, tuple[str, str]] = {}

    def add_lazy_command(self, name: str, module: str, attribute: str) -> None:
        """Register ``module.attribute`` as command ``name``, imported on first use."""
        self._lazy[name] = (module, attribute)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and cmd_name not in self.commands:
            module, attribute = self._lazy[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise _scrubbed(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _scrubbed(error) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)


def _scrubbed(error: click.UsageError) -> click.UsageError:
    text = error.format_message()
    clean = scrub(text)
    return error if clean == text else click.UsageError(clean, ctx=error.ctx)
