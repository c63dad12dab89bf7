"""Every object key, Zeebe's and ours, is built and parsed in one module:
``backup_store/format/keys.py``. Tools and front ends name no key: they ask the
contract (``InspectableStore.file_key``, ``marker_key``, ``probe``...)."""

from __future__ import annotations

import ast
from pathlib import Path

import backup_store
from backup_store.format.keys import (
    bounds_key,
    catalog_folder,
    group_folder,
    parse_bounds_key,
    parse_shard_key,
    shard_key,
    taken_key,
)

PACKAGE = Path(backup_store.__file__).parent
KEYS = PACKAGE / "format" / "keys.py"
# Where keys are used to reach objects: the format, the engine and the catalog, the
# contract (which names the marker) and the kit (which checks what a store wrote).
USERS = {"format", "engine", "catalog", "contract", "testing"}


def modules() -> list[tuple[str, ast.Module]]:
    """Every module of the package but the re-export shims of old module paths."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defines = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if path.name == "__init__.py" or any(isinstance(n, defines) for n in tree.body):
            found.append((path.relative_to(PACKAGE).as_posix(), tree))
    return found


NAMES = (
    ".backup-store-catalog",
    ".backup-store.json",
    "backup-store-integrity.json",
    "manifest.json",
)
"""Names of objects and folders that only keys.py puts into keys."""


def strings(tree: ast.Module) -> list[str]:
    """The string constants of a module's code (not its docstrings)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_keys_are_built_in_format_keys_only() -> None:
    builders = [
        f"{name}: {text!r}"
        for name, tree in modules()
        if name != "format/keys.py" and not name.startswith("testing/")
        for text in strings(tree)
        if any(part in text for part in NAMES)
    ]
    assert builders == []


def test_tools_and_front_ends_import_no_key_builder() -> None:
    importers = [
        f"{name}: {alias.name}"
        for name, tree in modules()
        if name.split("/")[0] not in USERS
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module in ("backup_store.format.keys", "backup_store.layout")
        for alias in node.names
        if alias.name.endswith(("_key", "_folder"))
    ]
    assert importers == []


def test_catalog_keys_parse_back() -> None:
    for base in (None, "bp"):
        assert parse_shard_key(shard_key(base, 3, 7, 500), catalog_folder(base)) == ((3, 7), 500)
        assert shard_key(base, 3, 7, 0).startswith(group_folder(base, 3, 7))
        assert parse_bounds_key(bounds_key(base, 7), base) == 7
        assert parse_bounds_key(taken_key(base, 7), base) is None
        # Only canonical numbers: no sign, no leading zero.
        assert parse_bounds_key(bounds_key(base, 7).replace("/7.", "/07."), base) is None
