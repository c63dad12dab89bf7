"""The API module in-process: id parsing, the OpenAPI patterns, error mapping."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_store import FilesystemBackupStore, InvalidInputError, MemoryBackupStore
from backup_store.aggregate import BackupInfo
from backup_store.api import (
    INVALID_BACKUP_ID,
    create_app,
    openapi_document,
    parse_backup_id,
    parse_take_backup_body,
)
from backup_store.api.openapi import BACKUP_ID_PATTERN, PATH_ID_PATTERN, decimal_at_most
from backup_store.cli.sample import generate_sample_data
from backup_store.engine import ObjectBackupStore
from backup_store.errors import ManifestParseError, StoreUnavailableError
from backup_store.io import HookedIO, Request
from backup_store.model import MAX_CHECKPOINT_ID
from backup_store.service import BackupService, DirectorySource, SourceUnavailableError
from tests.support.services import serving

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("bound", [1, 9, 10, 11, 19, 20, 99, 100, 101, 305, 1000, 4096, 99999])
def test_decimal_at_most_matches_exactly_one_to_bound(bound: int) -> None:
    pattern = re.compile(decimal_at_most(bound))
    for n in range(0, bound * 3 + 20):
        assert bool(pattern.fullmatch(str(n))) == (1 <= n <= bound), n
        assert not pattern.fullmatch(f"0{n}")


@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_the_backup_id_pattern_is_the_int64_range(n: int) -> None:
    assert bool(re.fullmatch(BACKUP_ID_PATTERN, str(n))) == (1 <= n <= MAX_CHECKPOINT_ID)


def test_the_pattern_bounds() -> None:
    for text, ok in [(str(MAX_CHECKPOINT_ID), True), (str(MAX_CHECKPOINT_ID + 1), False),
                     ("9223372036854775799", True), ("9223372036854775810", False),
                     ("10*", False), ("1" * 19, True), ("1" * 20, False)]:
        assert bool(re.fullmatch(BACKUP_ID_PATTERN, text)) == ok, text
    for text in ("10*", "*", "0*", "100", str(MAX_CHECKPOINT_ID)):
        assert re.fullmatch(PATH_ID_PATTERN, text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("1", 1), ("100", 100), ("0100", 100), (MAX_CHECKPOINT_ID, MAX_CHECKPOINT_ID),
     (str(MAX_CHECKPOINT_ID), MAX_CHECKPOINT_ID)],
)
def test_parse_backup_id(value: object, expected: int) -> None:
    assert parse_backup_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [None, 0, -1, "0", "00", "-1", "+1", " 1", "1 ", "1\n", "١٢", 1.0, 1.5, True, False, [1],
     MAX_CHECKPOINT_ID + 1, str(MAX_CHECKPOINT_ID + 1), "9" * 5000],
)
def test_parse_backup_id_refuses(value: object) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_backup_id(value)
    assert raised.value.message == INVALID_BACKUP_ID


def test_parse_take_backup_body() -> None:
    assert parse_take_backup_body(b'{ "backupId": "100" }') == 100
    assert parse_take_backup_body(b'{"backupId": 7, "other": 1}') == 7
    for body in (b"", b"[]", b"{", b'{"backupId": NaN}', b"[" * 100_000):
        with pytest.raises(InvalidInputError):
            parse_take_backup_body(body)


# ---------------------------------------------------------------- the app in-process


class Failing(BackupService):
    """A service whose reads raise what the test asks for."""

    error: BaseException = RuntimeError("boom")

    async def get_backup(self, backup_id: int) -> BackupInfo:
        raise self.error

    async def list_backups(self, prefix: str = "") -> list[BackupInfo]:
        raise self.error


@pytest.fixture
def data(tmp_path: Path) -> Path:
    generate_sample_data(tmp_path / "data", 2, seed=3)
    return tmp_path / "data"


@pytest.fixture
async def failing(data: Path) -> AsyncIterator[httpx.AsyncClient]:
    service = Failing(MemoryBackupStore(), DirectorySource.discover(data))
    async with serving(create_app(service)) as http:
        yield http


@pytest.mark.parametrize(
    ("error", "status", "start"),
    [
        (RuntimeError("boom"), 500, "Internal server error: RuntimeError: boom"),
        (ManifestParseError("bad manifest", key="k"), 500, "Backup request failed: bad manifest"),
        (StoreUnavailableError("down"), 502, "The backup store could not be reached: down"),
        (SourceUnavailableError("disk gone"), 502, "A partition could not be reached: disk gone"),
        (TimeoutError(), 504, "The request could not be handled within the configured timeout"),
    ],
)
async def test_errors_map_to_codes_without_stack_traces(
    failing: httpx.AsyncClient, error: Exception, status: int, start: str
) -> None:
    Failing.error = error
    for path in ("/actuator/backups/5", "/actuator/backups", "/actuator/backups/5*"):
        response = await failing.get(path)
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"message"} and body["message"].startswith(start)
        assert "Traceback" not in response.text


async def test_the_largest_id_is_accepted(data: Path) -> None:
    service = BackupService(MemoryBackupStore(), DirectorySource.discover(data))
    async with serving(create_app(service)) as http:
        response = await http.post("/actuator/backups",
                                   json={"backupId": str(MAX_CHECKPOINT_ID)})
        assert response.status_code == 202
        response = await http.post("/actuator/backups", json={"backupId": MAX_CHECKPOINT_ID})
        assert response.status_code == 409
        assert (await http.get(f"/actuator/backups/{MAX_CHECKPOINT_ID}")).status_code == 200
        await service.wait_for_backups()


async def test_not_enabled() -> None:
    async with serving(create_app(None)) as http:
        response = await http.post("/actuator/backups", json={"backupId": 1})
        assert response.status_code == 400
        assert "not enabled" in response.json()["message"]


def test_create_app_validates_options() -> None:
    with pytest.raises(InvalidInputError):
        create_app(None, request_timeout=0)
    with pytest.raises(InvalidInputError):
        create_app(None, token="")


def test_the_document_declares_every_code() -> None:
    document = openapi_document()
    paths = document["paths"]
    codes = {
        (path, method): set(operation["responses"])
        for path, item in paths.items()
        if path.startswith("/actuator/")
        for method, operation in item.items()
    }
    assert codes == {
        ("/actuator/backups", "post"): {"202", "400", "409", "500", "502", "504"},
        ("/actuator/backups", "get"): {"200", "400", "500", "502", "504"},
        ("/actuator/backups/{backupId}", "get"): {"200", "400", "404", "500", "502", "504"},
        ("/actuator/backups/{backupId}", "delete"): {"204", "400", "500", "502", "504"},
    }
    with_token = openapi_document(token=True)
    assert all("401" in op["responses"] for item in with_token["paths"].values()
               for op in item.values())


class CountingArrivals(BackupService):
    """Sets ``all_arrived`` once ``expected`` list requests have reached the service."""

    expected = 0
    arrived = 0
    all_arrived: asyncio.Event

    async def list_backups(self, prefix: str = "") -> list[BackupInfo]:
        self.arrived += 1
        if self.arrived == self.expected:
            self.all_arrived.set()
        return await super().list_backups(prefix)


async def test_concurrent_identical_lists_are_rendered_once_per_shared_read(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many identical list requests cost one rendering per shared read, not one each
    (at thousands of backups, rendering per request was what made them time out)."""
    base = FilesystemBackupStore(tmp_path / "store")
    async with BackupService(base, DirectorySource.discover(data)) as taker:
        for backup_id in (1, 2, 3):
            await taker.take_backup(backup_id)
        await taker.wait_for_backups()

    requests = 40
    all_arrived = asyncio.Event()

    holding = asyncio.Event()  # once serving: start-up's own reads are not held

    async def hold_listings(request: Request) -> None:
        if holding.is_set() and request.operation.startswith("list"):
            await all_arrived.wait()  # the first read waits for the rest

    held = ObjectBackupStore(
        HookedIO(base.io, hold_listings), kind=base.kind, format=base.format,
        base_path=base.base_path,
    )  # fmt: skip
    renders = 0
    to_json = BackupInfo.to_json

    def counted(self: BackupInfo, *, summary: bool = False) -> dict[str, Any]:
        nonlocal renders
        renders += 1
        return to_json(self, summary=summary)

    monkeypatch.setattr(BackupInfo, "to_json", counted)
    service = CountingArrivals(held, DirectorySource.discover(data))
    service.expected, service.all_arrived = requests, all_arrived
    async with serving(create_app(service)) as http:
        await service.wait_for_recovery()
        holding.set()
        responses = await asyncio.gather(*(http.get("/actuator/backups") for _ in range(requests)))
    assert {r.status_code for r in responses} == {200}
    assert [b["backupId"] for b in responses[0].json()] == [3, 2, 1]
    assert len({r.content for r in responses}) == 1
    # One read for the first request, one shared by the 39 that arrived during it.
    assert renders == 2 * 3
