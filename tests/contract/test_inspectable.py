"""The tools contract: what a store must implement for tools to trust its answers."""

from __future__ import annotations

from typing import Any

import pytest

from backup_store.contract.inspectable import InspectableStore


def store_without(*missing: str) -> type[Any]:
    """An InspectableStore implementing every abstract method but ``missing``."""

    async def stub(*_args: object, **_kwargs: object) -> None:
        return None

    methods = {name: stub for name in InspectableStore.__abstractmethods__ if name not in missing}
    return type("Forgetful", (InspectableStore,), methods)


def test_a_store_must_implement_read_integrity() -> None:
    # A store that forgot it would answer None: "no record", and a restore or verify
    # would then treat every backup as unverified without saying why.
    with pytest.raises(TypeError, match="read_integrity"):
        store_without("read_integrity")()


def test_a_store_implementing_the_contract_can_be_made() -> None:
    assert isinstance(store_without()(), InspectableStore)
