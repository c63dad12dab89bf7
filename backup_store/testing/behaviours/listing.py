"""Listing: ``conformance.md`` § Listing, every wildcard of the table."""

from __future__ import annotations

import pytest

from backup_store.contract.store import BackupStore
from backup_store.model import BackupIdentifierWildcard, BackupStatusCode
from backup_store.testing.behaviours._base import ID, BackupFactory, StoreScenarios

Triple = tuple[int, int, int]
Wildcard = tuple[int | None, int | None, int | str | None]

#: (wildcard (node, partition, checkpoint; None = any), ids it returns, ids it must not)
LISTING: list[tuple[Wildcard, list[Triple], list[Triple]]] = [
    ((None, 1, 1), [(1, 1, 1), (2, 1, 1), (3, 1, 1)], [(1, 2, 1), (2, 1, 2)]),
    ((1, None, 1), [(1, 1, 1), (1, 2, 1), (1, 3, 1)], [(2, 1, 1), (1, 1, 3)]),
    ((1, 1, None), [(1, 1, 1), (1, 1, 2), (1, 1, 3)], [(1, 2, 1), (2, 1, 3)]),
    (
        (1, 1, "10*"),
        [(1, 1, 10), (1, 1, 100), (1, 1, 101)],
        [(1, 1, 1), (1, 1, 20), (2, 1, 10), (1, 2, 10)],
    ),
    ((1, None, None), [(1, 1, 3), (1, 2, 2), (1, 3, 1)], [(2, 2, 1), (3, 1, 3)]),
    ((None, None, 1), [(1, 3, 1), (2, 2, 1), (3, 1, 1)], [(1, 2, 2), (2, 1, 3)]),
    ((None, 1, None), [(1, 1, 3), (2, 1, 2), (3, 1, 1)], [(1, 2, 2), (2, 3, 3)]),
    ((None, None, None), [(1, 1, 1), (2, 2, 2), (3, 3, 3)], []),
    # partition 1 must not match 10..19, nor checkpoint 1 match 10
    ((None, 1, 1), [(1, 1, 1)], [(1, 10, 1), (1, 1, 10), (1, 11, 1)]),
]


def _wildcard_id(wildcard: Wildcard) -> str:
    node, partition, checkpoint = ("any" if part is None else part for part in wildcard)
    return f"node-{node}-partition-{partition}-checkpoint-{checkpoint}"


class ListingBehaviour(StoreScenarios):
    """A wildcard lists exactly the backups it matches, whole id parts only."""

    @pytest.mark.parametrize(
        ("wildcard", "expected", "others"),
        LISTING,
        ids=[f"{i}-{_wildcard_id(case[0])}" for i, case in enumerate(LISTING, 1)],
    )
    async def test_a_wildcard_lists_exactly_the_backups_it_matches(
        self,
        store: BackupStore,
        backup_factory: BackupFactory,
        wildcard: Wildcard,
        expected: list[Triple],
        others: list[Triple],
    ) -> None:
        """Given backups that match the wildcard and others that do not, when the store
        lists the wildcard, then exactly the matching ones come back, COMPLETED."""
        for node, partition, checkpoint in expected + others:
            await store.save(backup_factory(ID(node, partition, checkpoint), minimal=True))

        found = await store.list(BackupIdentifierWildcard(*wildcard))

        assert sorted(s.id for s in found) == sorted(ID(*i) for i in expected)
        assert all(s.status_code is BackupStatusCode.COMPLETED for s in found)

    async def test_an_empty_store_lists_nothing(self, store: BackupStore) -> None:
        """Given an empty store, when everything is listed, then nothing comes back."""
        assert await store.list(BackupIdentifierWildcard()) == []
