"""Object keys of a store, for the retention tests (histories: testbed.histories)."""

from __future__ import annotations

from backup_store.contract.inspectable import InspectableStore


async def object_keys(store: InspectableStore) -> set[str]:
    return set(await store.io.list_keys(""))


def checkpoint_of(key: str) -> int | None:
    """The backup id an object key belongs to (any layout), None for other objects."""
    parts = key.split("/")
    if parts and parts[0] in ("manifests", "contents"):
        parts = parts[1:]
    if len(parts) >= 4 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[1])
    return None
