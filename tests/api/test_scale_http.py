"""Concurrent lists over real HTTP against ``backup-store serve`` on a store holding many
backups: every request answered correctly (none 504), and never an answer older than
a change that finished before the request was sent."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from backup_store.stores.filesystem import FilesystemBackupStore
from testbed.many_backups import populate
from tests.support.api_server import ServerProcess, cli_server, wait_for_state

BACKUPS = 300
PARTITIONS = 2
CONCURRENT = 200


def serve(tmp_path: Path) -> ServerProcess:
    return cli_server(
        tmp_path, "--store", (tmp_path / "store").as_uri(), "--data-dir",
        str(tmp_path / "data"), "--partitions", str(PARTITIONS), "--no-writer",
    )


async def populated(tmp_path: Path) -> None:
    await populate(FilesystemBackupStore(tmp_path / "store"), BACKUPS, PARTITIONS)


def listed_ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, (response.status_code, response.text[:200])
    return [info["backupId"] for info in response.json()]


async def lists(http: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    return await asyncio.gather(*(http.get("/actuator/backups") for _ in range(count)))


def async_client(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=120.0,
        limits=httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT),
    )


async def test_200_concurrent_lists_are_all_answered_correctly(tmp_path: Path) -> None:
    await populated(tmp_path)  # as Zeebe wrote them: no catalog yet
    with serve(tmp_path) as server:
        async with async_client(server) as http:
            responses = await lists(http, CONCURRENT)
    assert Counter(r.status_code for r in responses) == {200: CONCURRENT}
    expected = list(range(BACKUPS, 0, -1))
    for response in responses:
        infos: list[dict[str, Any]] = response.json()
        assert [i["backupId"] for i in infos] == expected
        assert {i["state"] for i in infos} == {"COMPLETED"}
        assert all(len(i["details"]) == PARTITIONS for i in infos)


async def test_a_list_never_misses_a_change_finished_before_it_was_asked(
    tmp_path: Path,
) -> None:
    await populated(tmp_path)
    with serve(tmp_path) as server:
        async with async_client(server) as http:
            before = asyncio.ensure_future(lists(http, 50))  # lists in flight meanwhile
            deleted = await http.delete("/actuator/backups/5")
            assert deleted.status_code == 204
            after_delete = asyncio.ensure_future(lists(http, 50))
            taken = await http.post("/actuator/backups", json={"backupId": BACKUPS + 1})
            assert taken.status_code == 202, taken.text
            after_post = await lists(http, 50)
            for response in await after_delete:
                assert 5 not in listed_ids(response)
            for response in after_post:
                ids = listed_ids(response)
                assert 5 not in ids and ids[0] == BACKUPS + 1
            for response in await before:
                assert response.status_code == 200
        with httpx.Client(base_url=server.url, timeout=30.0) as api:
            wait_for_state(api, BACKUPS + 1, "COMPLETED")
