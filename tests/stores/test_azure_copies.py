"""Azure's copies: Copy Blob may answer while the copy is still pending, so a copy
returns only once Get Blob Properties says it succeeded, and a copy that failed makes
the save upload the file instead (Azurite, Shared Key credentials)."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from backup_store.errors import StoreUnavailableError
from backup_store.io.wrapper import HookedIO, Request
from backup_store.model import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    NamedFileSet,
)
from backup_store.stores.azure import AzureBackupStore
from testbed.cloud_stores import azure_config
from testbed.emulators import AzureContainer

FIRST = BackupIdentifier(0, 1, 10)
SECOND = BackupIdentifier(0, 1, 20)
NAMES = ["000001.sst", "000002.sst"]


class StagedCopyStates(AzureBackupStore):
    """Answers the first ``staged`` questions about each copy with the given states,
    then asks the service."""

    def __init__(self, container: AzureContainer, staged: builtins.list[str]) -> None:
        super().__init__(azure_config(container))
        self.staged = staged
        self.asked: builtins.list[tuple[str, str | None]] = []

    async def copy_status(self, key: str) -> str | None:
        answered = sum(1 for asked, _ in self.asked if asked == key)
        if answered < len(self.staged):
            state: str | None = self.staged[answered]
        else:
            state = await super().copy_status(key)
        self.asked.append((key, state))
        return state


def backup_of(backup_id: BackupIdentifier, folder: Path) -> Backup:
    return Backup(
        backup_id,
        BackupDescriptor("1-1-1-1", backup_id.checkpoint_id, 1, "8.7.0"),
        NamedFileSet({}),
        NamedFileSet({name: folder / name for name in NAMES}),
    )


async def save_twice(store: AzureBackupStore, tmp_path: Path) -> dict[str, bytes]:
    folder = tmp_path / "partition"
    folder.mkdir()
    files = {name: os.urandom(200_000) for name in NAMES}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    await store.save(backup_of(FIRST, folder))
    await store.save(backup_of(SECOND, folder))
    return files


def read_folder(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


async def restored(store: AzureBackupStore, to: Path) -> dict[str, bytes]:
    await store.restore(SECOND, to)
    return read_folder(to)


async def test_the_service_reports_a_finished_copy_and_nothing_for_an_upload(
    azure_container: AzureContainer,
) -> None:
    store = AzureBackupStore(azure_config(azure_container))
    assert store.io.capabilities.server_side_copy
    await store.io.put("a", b"bytes")
    assert await store.copy_status("a") is None
    await store.io.copy("a", "b")
    assert await store.copy_status("b") == "success"
    assert (await store.io.get("b")) is not None
    await store.close()


async def test_a_pending_copy_is_waited_for(
    azure_container: AzureContainer, tmp_path: Path
) -> None:
    store = StagedCopyStates(azure_container, ["pending", "pending"])
    files = await save_twice(store, tmp_path)
    assert (await store.get_status(SECOND)).status_code is BackupStatusCode.COMPLETED
    assert store.counters.files_copied == len(NAMES)
    # Each copy was asked about until the service itself said "success".
    for name in NAMES:
        states = [state for key, state in store.asked if key.endswith(f"/{name}")]
        assert states == ["pending", "pending", "success"]
    assert await restored(store, tmp_path / "r") == files
    await store.close()


@pytest.mark.parametrize("state", ["failed", "aborted"])
async def test_a_copy_that_did_not_succeed_is_uploaded_instead(
    azure_container: AzureContainer, tmp_path: Path, state: str
) -> None:
    store = StagedCopyStates(azure_container, [state])
    files = await save_twice(store, tmp_path)
    assert (await store.get_status(SECOND)).status_code is BackupStatusCode.COMPLETED
    assert store.counters.files_copied == 0
    assert store.counters.bytes_uploaded == 2 * len(NAMES) * 200_000
    assert await restored(store, tmp_path / "r") == files
    await store.close()


async def test_a_copy_that_did_not_succeed_is_an_error_at_the_seam(
    azure_container: AzureContainer,
) -> None:
    store = StagedCopyStates(azure_container, ["failed"])
    await store.io.put("a", b"bytes")
    with pytest.raises(StoreUnavailableError, match="copy ended 'failed'") as caught:
        await store.io.copy("a", "b")
    assert caught.value.key == "b"
    await store.close()


def test_without_signing_credentials_nothing_is_copied(azure_container: AzureContainer) -> None:
    # A bearer token cannot sign the request that asks for the copy's state.
    config = azure_config(azure_container, account_key=None, bearer_token="token")
    store = AzureBackupStore(config)
    assert not store.io.capabilities.server_side_copy


async def test_an_unanswered_question_about_a_copy_is_an_error_without_credentials(
    azure_container: AzureContainer,
) -> None:
    config = azure_config(azure_container, endpoint="http://127.0.0.1:9/devstoreaccount1")
    store = AzureBackupStore(config)
    with pytest.raises(StoreUnavailableError, match="could not read the copy's state") as raised:
        await store.copy_status("a")
    message = str(raised.value)
    assert "127.0.0.1:9" in message and raised.value.key == "a"
    assert config.account_key is not None
    assert config.account_key.get_secret_value() not in message


async def test_a_wrapper_sees_every_question_about_a_copy(
    azure_container: AzureContainer, tmp_path: Path
) -> None:
    # Throttles, counters and the benchmark's latency wrap the seam: the questions
    # asked until a copy is done are requests like any other.
    store = StagedCopyStates(azure_container, ["pending", "pending"])
    seen: builtins.list[Request] = []

    async def record(request: Request) -> None:
        seen.append(request)

    store.wrap_io(lambda io: HookedIO(io, record))
    await save_twice(store, tmp_path)
    assert store.counters.files_copied == len(NAMES)
    copied = {key for key, _ in store.asked}
    assert len(copied) == len(NAMES)
    for key in copied:
        asked = [state for asked_key, state in store.asked if asked_key == key]
        hooked = [r.operation for r in seen if r.key == key]
        assert hooked.count("copy") == 1
        assert hooked.count("copy_state") == len(asked) == 3
    await store.close()
