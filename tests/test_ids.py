"""One backup-id parser for the library, the API and the CLI.

ASCII digits only, leading zeros allowed as Java's ``Long.parseLong`` allows
them, value 1..2^63-1. Everything else is a typed error (library), a 400 (API)
or a usage error with exit code 2 (CLI) \u2014 never a 500 or a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_store import InvalidInputError, MemoryBackupStore
from backup_store.api import INVALID_BACKUP_ID, create_app
from backup_store.cli.sample import generate_sample_data
from backup_store.model import (
    MAX_CHECKPOINT_ID,
    BackupIdentifierWildcard,
    parse_checkpoint_id,
)
from backup_store.service import BackupService, DirectorySource
from tests.support.filesystem_stores import StoreDir, invoke, invoke_json, save_backups
from tests.support.services import serving

LONG_ZEROS_ONE = "0" * 5000 + "1"
"""Java's ``Long.parseLong`` reads this as 1; Python's ``int()`` refuses it (4,300 digits)."""

BAD_IDS = [
    "\u0661\u0660",  # Arabic-Indic digits: int() accepts them, Java's ids are ASCII
    "\uff11\uff10",  # full-width digits
    "9223372036854775808",  # 2^63
    "0" * 5000 + "9223372036854775808",  # 2^63 behind leading zeros
    "1" * 5000,  # over the 4,300-digit limit, and over int64
    "-1",
    "+5",
    " 5",
    "5 ",
    "5\n",
    "5_0",
    "0",
    "0" * 5000,
    "",
    "5.0",
    "1e3",
    "0x10",
    "abc",
]
GOOD_IDS = [("1", 1), ("0001", 1), (LONG_ZEROS_ONE, 1), (str(MAX_CHECKPOINT_ID), MAX_CHECKPOINT_ID),
            ("0" * 100 + str(MAX_CHECKPOINT_ID), MAX_CHECKPOINT_ID), ("10", 10)]


# ---------------------------------------------------------------- the library


@pytest.mark.parametrize(("text", "expected"), GOOD_IDS, ids=lambda v: str(v)[:24])
def test_parse_checkpoint_id_accepts_java_long_forms(text: str, expected: int) -> None:
    assert parse_checkpoint_id(text) == expected


@pytest.mark.parametrize("text", BAD_IDS, ids=lambda v: repr(v)[:24])
def test_parse_checkpoint_id_refuses_with_a_typed_error(text: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_checkpoint_id(text)
    assert "checkpoint id" in raised.value.message
    assert len(raised.value.message) < 300  # a 5,000-digit id is not echoed whole


@given(st.integers(min_value=-(2**70), max_value=2**70), st.integers(0, 30))
def test_parse_checkpoint_id_is_long_parse_long_in_range(value: int, zeros: int) -> None:
    text = "0" * zeros + str(value) if value >= 0 else str(value)
    if 1 <= value <= MAX_CHECKPOINT_ID:
        assert parse_checkpoint_id(text) == value
    else:
        with pytest.raises(InvalidInputError):
            parse_checkpoint_id(text)


@given(st.text(max_size=25))
def test_parse_checkpoint_id_accepts_only_ascii_digit_strings(text: str) -> None:
    ascii_digits = text != "" and all("0" <= c <= "9" for c in text)
    try:
        value = parse_checkpoint_id(text)
    except InvalidInputError:
        assert not ascii_digits or not 1 <= int(text) <= MAX_CHECKPOINT_ID
    else:
        assert ascii_digits and value == int(text)


def test_the_wildcard_uses_the_same_parser() -> None:
    assert BackupIdentifierWildcard(checkpoint=LONG_ZEROS_ONE).exact_checkpoint == 1
    assert BackupIdentifierWildcard(checkpoint="10*").checkpoint_prefix == "10"
    for text in [*BAD_IDS, "\u0661*", "1\u0660*", "5\n*", "*\n", " 1*", "+1*", "-*"]:
        if text == "":
            continue  # "" is not a pattern at all; covered below
        with pytest.raises(InvalidInputError):
            BackupIdentifierWildcard(checkpoint=text)
    with pytest.raises(InvalidInputError):
        BackupIdentifierWildcard(checkpoint="")


# ---------------------------------------------------------------- the API


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, BackupService]]:
    generate_sample_data(tmp_path / "data", 2, seed=3)
    service = BackupService(MemoryBackupStore(), DirectorySource.discover(tmp_path / "data"))
    async with serving(create_app(service)) as http:
        yield http, service


def _path(text: str) -> str:
    # httpx would normalise a path; quote every byte so the server sees the text itself.
    from urllib.parse import quote

    return "/actuator/backups/" + quote(text, safe="")


@pytest.mark.parametrize("text", BAD_IDS, ids=lambda v: repr(v)[:24])
async def test_api_refuses_bad_ids_with_400(
    api: tuple[httpx.AsyncClient, BackupService], text: str
) -> None:
    http, _ = api
    responses = [
        await http.post("/actuator/backups", json={"backupId": text}),
        await http.delete(_path(text)),
    ]
    if text:  # GET /actuator/backups/ (empty id) is the list itself
        responses.append(await http.get(_path(text)))
    for response in responses:
        assert response.status_code == 400, (response.request.method, response.text)
        body = response.json()
        assert set(body) == {"message"}
        assert body["message"].startswith(INVALID_BACKUP_ID)
        assert len(body["message"]) < 300


@pytest.mark.parametrize(
    "text", ["\u0661*", "1\u0660*", "\uff11*", " 1*", "+1*", "-1*", "1_0*", "1\n*"]
)
async def test_api_refuses_non_ascii_prefixes_with_400(
    api: tuple[httpx.AsyncClient, BackupService], text: str
) -> None:
    http, _ = api
    response = await http.get(_path(text))
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(INVALID_BACKUP_ID)


async def test_api_reads_leading_zeros_as_java_does(
    api: tuple[httpx.AsyncClient, BackupService],
) -> None:
    http, service = api
    response = await http.get(_path(LONG_ZEROS_ONE))
    assert response.status_code == 404
    assert response.json() == {"message": "Backup with id 1 does not exist"}
    response = await http.post("/actuator/backups", json={"backupId": LONG_ZEROS_ONE})
    assert response.status_code == 202, response.text
    assert response.json()["message"].startswith("A backup with id 1 has been scheduled.")
    await service.wait_for_backups()
    response = await http.get(_path("0001"))
    assert response.status_code == 200
    assert response.json()["backupId"] == 1
    assert (await http.delete(_path(LONG_ZEROS_ONE))).status_code == 204


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def store(tmp_path: Path) -> StoreDir:
    """Backups 1 and 10 on partition 1 of node 0."""
    import asyncio

    from backup_store import BackupIdentifier

    store = StoreDir(tmp_path / "store")

    async def build() -> None:
        async with store.open() as opened:
            await save_backups(
                opened, tmp_path / "data", [BackupIdentifier(0, 1, 1), BackupIdentifier(0, 1, 10)]
            )

    asyncio.run(build())
    return store


def _cli_id_uses(url: str, text: str, target: Path) -> list[list[str]]:
    """Every CLI argument or option that takes an id, given ``text``."""
    return [
        ["status", url, text],
        ["delete", url, text, "--yes"],
        ["restore", url, text, "--partition", "1", "--to", str(target)],
        ["verify", url, text],
        ["migrate", url, url + "-copy", text, "--dry-run"],
        ["list", url, "--checkpoint", text],
        ["list", url, "--partition", text],
        ["list", url, "--node", text],
        ["delete", url, "10", "--partition", text, "--yes"],
        ["restore", url, "10", "--partition", "1", "--node", text, "--to", str(target)],
    ]


@pytest.mark.parametrize(
    "text",
    ["\u0661\u0660", "\u0661", "\uff19", "9223372036854775808", "-1", "+5", " 5", "5_0", "1_0",
     "10\n"],
    ids=repr,
)
def test_cli_refuses_bad_ids_as_usage_errors(store: StoreDir, tmp_path: Path, text: str) -> None:
    before = store.tree()
    for args in _cli_id_uses(store.url, text, tmp_path / "restored"):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("Usage: "), args
        assert "\nError: " in result.stderr, args  # "Invalid value ..." (or, for -1, an option)
        assert "Traceback" not in result.output
    assert store.tree() == before  # `delete URL \u0661\u0660 --yes` deleted backup 10 before
    assert not (tmp_path / "restored").exists()


def test_cli_reads_leading_zeros_as_java_does(store: StoreDir) -> None:
    result, status = invoke_json("status", store.url, LONG_ZEROS_ONE)
    assert result.exit_code == 0, result.output
    assert status["backupId"] == 1
    result, listing = invoke_json("list", store.url, "--checkpoint", "0010")
    assert [b["backupId"] for b in listing["backups"]] == [10]
    result, listing = invoke_json("list", store.url, "--partition", "0" * 5000 + "1")
    assert result.exit_code == 0
    assert [b["backupId"] for b in listing["backups"]] == [10, 1]
    result = invoke("delete", store.url, "0" * 5000 + "10", "--yes")
    assert result.exit_code == 0, result.output
    _, listing = invoke_json("list", store.url)
    assert [b["backupId"] for b in listing["backups"]] == [1]


@pytest.mark.parametrize("text", ["\u0661", "+1", " 1", "1_0", "2147483648"], ids=repr)
def test_serve_refuses_a_bad_node_id_before_starting(text: str, tmp_path: Path) -> None:
    result = invoke("serve", "--node-id", text, "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--node-id'" in result.stderr
    assert not (tmp_path / "data").exists()

