"""What operators hit, run as they run it: ``backup-store`` in a subprocess.

Read-only commands never create anything; errors an operator can act on
(missing bucket, plain-http endpoints); obstore's option names and URL forms;
Ctrl-C and failures in the middle of a restore or a migration; the small things
(``-h``, id messages, ``--yes``, sizes).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import pytest

from backup_store import BackupIdentifier
from backup_store.cli.output import human_size
from testbed.cloud_stores import azure_url, gcs_url, s3_url
from testbed.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    AzureContainer,
    GcsBucket,
    S3Bucket,
    service_account_key,
)
from tests.support.api_server import CLI
from tests.support.filesystem_stores import StoreDir, file_bytes, save_backups

A = BackupIdentifier(0, 1, 10)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``backup-store ARGS`` in a subprocess without a terminal."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> StoreDir:
    """Backup 10 of partition 1, COMPLETED, in a filesystem store."""
    store = StoreDir(tmp_path / "store")
    asyncio.run(_save(store, tmp_path / "data", [A]))
    return store


async def _save(
    store: StoreDir, data: Path, ids: list[BackupIdentifier], sizes: dict[str, int] | None = None
) -> None:
    async with store.open() as opened:
        await save_backups(opened, data, ids, sizes=sizes)


# ---------------------------------------------------------------- read-only commands


@pytest.mark.parametrize(
    "command",
    [
        ["list", "URL"],
        ["status", "URL", "10"],
        ["verify", "URL"],
        ["restore", "URL", "10", "--partition", "1", "--to", "TARGET"],
        ["migrate", "URL", "TARGET_URL", "--all"],
        ["delete", "URL", "10", "--yes"],
    ],
)
def test_a_missing_filesystem_store_is_an_error_and_is_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "typo"
    args = [
        {"URL": typo.as_uri(), "TARGET": str(tmp_path / "target"),
         "TARGET_URL": (tmp_path / "other").as_uri()}.get(arg, arg)
        for arg in command
    ]  # fmt: skip
    result = cli(*args)
    assert result.returncode == 1, result.stdout
    assert one_line(result.stderr) == (
        f"error: no backup store at {typo} (STORE_URL): the folder does not exist"
        if command[0] != "migrate"
        else f"error: no backup store at {typo} (SOURCE_URL): the folder does not exist"
    )
    assert not typo.exists()
    assert not (tmp_path / "target").exists()


def test_migrate_dry_run_writes_nothing_not_even_the_target_folder(
    store: StoreDir, tmp_path: Path
) -> None:
    missing = tmp_path / "new" / "target"
    existing = tmp_path / "empty"
    existing.mkdir()
    for target in (missing, existing):
        result = cli("migrate", store.url, target.as_uri(), "--all", "--dry-run")
        assert result.returncode == 0, result.stderr
        assert "Dry run: 1 to migrate, 0 to skip, 0 conflicts. Nothing was written." in (
            " ".join(result.stdout.split())
        )
    assert not (tmp_path / "new").exists()
    assert list(existing.iterdir()) == []
    # The target URL is still checked as for a real migration.
    typo = cli("migrate", store.url, f"{missing.as_uri()}?max_concurency=2", "--all", "--dry-run")
    assert typo.returncode == 2
    assert "unknown option 'max_concurency'" in typo.stderr
    assert not (tmp_path / "new").exists()


def test_migrate_between_folders_of_one_device_says_what_it_copied_and_streams_if_asked(
    store: StoreDir, tmp_path: Path
) -> None:
    copied = cli("migrate", store.url, (tmp_path / "linked").as_uri(), "--all")
    assert copied.returncode == 0, copied.stderr
    summary = " ".join(copied.stdout.split())
    assert "Sent 0 bytes, 4 files (4 KiB) copied inside the target." in summary
    streamed = cli("migrate", store.url, (tmp_path / "own").as_uri(), "--all", "--stream")
    assert streamed.returncode == 0, streamed.stderr
    summary = " ".join(streamed.stdout.split())
    assert "(streamed: the target does not copy the source's objects inside one service)." in (
        summary
    )
    assert "copied inside the target" not in summary


def test_verify_that_checked_nothing_says_so_and_fails_unless_allowed(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("verify", empty.as_uri())
    assert result.returncode == 1
    assert "Nothing was checked" in result.stdout
    assert "--allow-empty" in result.stdout
    as_json = cli("verify", empty.as_uri(), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["filesChecked"] == 0
    allowed = cli("verify", empty.as_uri(), "--allow-empty")
    assert allowed.returncode == 0, allowed.stdout
    assert list(empty.iterdir()) == []


def test_verify_json_lists_every_problem_it_counts(store: StoreDir) -> None:
    for name in ("segments/segment-file-1", "snapshot/snapshot-file-2"):
        path = file_bytes(store.root, A, name)
        path.write_bytes(b"changed" + path.read_bytes()[7:])
    result = cli("verify", store.url, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["problemCount"] == 2
    assert len(report["problems"]) == 2
    assert {p["file"] for p in report["problems"]} == {
        "segments/segment-file-1", "snapshot/snapshot-file-2"
    }


# ---------------------------------------------------------------- errors an operator can act on


def test_a_missing_bucket_or_container_is_named(
    s3_bucket: S3Bucket, azure_container: AzureContainer, gcs_bucket: GcsBucket
) -> None:
    cases = [
        (s3_url(replace(s3_bucket, name="no-such-bucket-s3")), "bucket no-such-bucket-s3"),
        (azure_url(replace(azure_container, name="no-such-container")),
         "container no-such-container"),
        (gcs_url(replace(gcs_bucket, name="no-such-bucket-gcs")), "bucket no-such-bucket-gcs"),
    ]  # fmt: skip
    for url, what in cases:
        result = cli("list", url)
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert f"{what} does not exist" in line
        assert "<?xml" not in line


def test_an_http_endpoint_from_aws_endpoint_url_works_and_is_shown(s3_bucket: S3Bucket) -> None:
    env = {
        "AWS_ENDPOINT_URL": s3_bucket.endpoint, "AWS_REGION": S3_REGION,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
    }  # fmt: skip
    result = cli("list", f"s3://{s3_bucket.name}?force_path_style=true", env=env)
    assert result.returncode == 0, result.stderr
    assert f"No backups in s3://{s3_bucket.name}/ at {s3_bucket.endpoint}." in result.stdout
    assert S3_SECRET_ACCESS_KEY not in result.stdout + result.stderr


# ---------------------------------------------------------------- obstore's names


def test_obstore_option_names_and_schemes_are_accepted(
    tmp_path: Path, s3_bucket: S3Bucket, azure_container: AzureContainer, gcs_bucket: GcsBucket
) -> None:
    key_file = tmp_path / "gcs-key.json"
    key_file.write_text(service_account_key(gcs_bucket.base_url))
    account_key = AZURITE_KEY.replace("+", "%2B")
    urls = [
        f"s3://{s3_bucket.name}?aws_endpoint={s3_bucket.endpoint}&aws_region={S3_REGION}"
        f"&aws_access_key_id={S3_ACCESS_KEY_ID}&aws_secret_access_key={S3_SECRET_ACCESS_KEY}"
        "&virtual_hosted_style_request=false",
        f"s3a://{s3_bucket.name}?endpoint_url={s3_bucket.endpoint}&region={S3_REGION}"
        f"&access_key_id={S3_ACCESS_KEY_ID}&secret_access_key={S3_SECRET_ACCESS_KEY}"
        "&aws_virtual_hosted_style_request=false&aws_timeout=30s",
        f"az://{azure_container.name}?azure_storage_account_name={AZURITE_ACCOUNT}"
        f"&azure_storage_account_key={account_key}&azure_endpoint={azure_container.account_url}",
        f"abfs://{azure_container.name}?account_name={AZURITE_ACCOUNT}"
        f"&account_key={account_key}&endpoint={azure_container.account_url}",
        f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/{azure_container.name}"
        f"?access_key={account_key}&endpoint={azure_container.account_url}",
        f"gs://{gcs_bucket.name}?google_service_account={key_file}&allow_http=true",
    ]
    for url in urls:
        result = cli("list", url)
        assert result.returncode == 0, (url, result.stderr)
        assert result.stdout.startswith("No backups in "), result.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket?aws_endpoitn=http://x", ["unknown option 'aws_endpoitn'",
                                                "did you mean 'aws_endpoint'", "valid options:",
                                                "force_path_style", "aws_region"]),
        ("TMP?max_concurency=2", ["unknown option 'max_concurency'", "base_path",
                                  "max_concurrency"]),
        ("az://c?account=a", ["unknown option 'account'", "azure_storage_account_name"]),
        ("https://example.com/bucket", ["Azure container URL",
                                        "https://<account>.blob.core.windows.net/<container>"]),
    ],
)
def test_unknown_options_and_foreign_hosts_are_refused_with_the_valid_names(
    tmp_path: Path, url: str, expected: list[str]
) -> None:
    result = cli("list", url.replace("TMP", tmp_path.as_uri()))
    assert result.returncode == 2
    for text in expected:
        assert text in result.stderr


# ---------------------------------------------------------------- Ctrl-C and failures mid-transfer


class EndlessFile:
    """A stored file replaced by a named pipe that gives bytes for as long as it is
    read: a transfer of it never ends on its own, so the test decides when it stops.

    ``reading`` is set once a transfer opened it (a stage to act at); every chunk
    read after the transfer was told to stop is one more chance for the code to
    leave a stopped transfer's error behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink()
        os.mkfifo(path)
        self.reading = threading.Event()
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        with suppress(BrokenPipeError), self.path.open("wb", buffering=0) as pipe:
            self.reading.set()  # the open returns once a reader has it open
            while True:
                pipe.write(bytes(64 * 1024))

    def wait_until_read(self, process: subprocess.Popen[str]) -> None:
        if not self.reading.wait(timeout=60):
            process.kill()
            raise AssertionError(f"the transfer never opened {self.path}: {process.communicate()}")

    def close(self) -> None:
        """End the feeder (a reader that opens and leaves: the write end breaks)."""
        os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._feeder.join(timeout=30)


BIG_FILES = {"endless": 2 * 1024 * 1024, "damaged": 2 * 1024 * 1024}
"""Two files over the batching size: each is transferred on its own, at the same time."""


@pytest.fixture
def transferring(tmp_path: Path) -> Iterator[tuple[StoreDir, EndlessFile]]:
    """Backup 10 of partition 1 whose file ``endless`` never ends."""
    store = StoreDir(tmp_path / "store")
    asyncio.run(_save(store, tmp_path / "data", [A], sizes=BIG_FILES))
    endless = EndlessFile(file_bytes(store.root, A, "segments/endless"))
    yield store, endless
    endless.close()


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def interrupt_while_reading(args: list[str], endless: EndlessFile) -> tuple[int, str]:
    """Run the command, press Ctrl-C once it is reading ``endless``; its exit code and stderr."""
    process = start(args)
    try:
        endless.wait_until_read(process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stderr


def restore_args(store: StoreDir, target: Path) -> list[str]:
    return ["restore", store.url, "10", "--partition", "1", "--to", str(target)]


def damage(store: StoreDir) -> None:
    """Cut the file ``damaged`` short: it fails its check at its end, while ``endless``
    is still being transferred (and must be stopped)."""
    damaged = file_bytes(store.root, A, "segments/damaged")
    damaged.write_bytes(damaged.read_bytes()[: 1024 * 1024])


def test_ctrl_c_during_restore_leaves_the_target_as_it_was(
    transferring: tuple[StoreDir, EndlessFile], tmp_path: Path
) -> None:
    store, endless = transferring
    target = tmp_path / "restored" / "partition-1"
    code, stderr = interrupt_while_reading(restore_args(store, target), endless)
    assert code == 130, stderr
    assert one_line(stderr) == "interrupted"
    assert not (tmp_path / "restored").exists()  # nor the folders created for it


def test_ctrl_c_during_migrate_is_one_line_and_exit_130(
    transferring: tuple[StoreDir, EndlessFile], tmp_path: Path
) -> None:
    store, endless = transferring
    args = ["migrate", store.url, (tmp_path / "copy").as_uri(), "--all"]
    code, stderr = interrupt_while_reading(args, endless)
    assert code == 130, stderr
    assert one_line(stderr) == "interrupted"


def test_a_restore_failing_mid_transfer_is_one_error_line(
    transferring: tuple[StoreDir, EndlessFile], tmp_path: Path
) -> None:
    store, _ = transferring
    damage(store)
    target = tmp_path / "restored"
    process = start(restore_args(store, target))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert one_line(stderr).startswith("error: segments/damaged does not match what was saved")
    assert not target.exists()


def test_a_migration_failing_mid_transfer_reports_it_without_tracebacks(
    transferring: tuple[StoreDir, EndlessFile], tmp_path: Path
) -> None:
    store, _ = transferring
    damage(store)
    process = start(["migrate", store.url, (tmp_path / "copy").as_uri(), "--all", "--json"])
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    [result] = json.loads(stdout)["backups"]
    assert result["outcome"] == "failed"
    assert "segments/damaged does not match its record" in result["message"]
    assert stderr == ""


def test_restore_refuses_a_non_empty_folder_unless_allowed(store: StoreDir, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    refused = cli("restore", store.url, "10", "--partition", "1", "--to", str(target))
    assert refused.returncode == 1
    assert "the folder is not empty" in one_line(refused.stderr)
    allowed = cli("restore", store.url, "10", "--partition", "1", "--to", str(target),
                  "--allow-non-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert sorted(p.name for p in target.iterdir()) == [
        "keep.txt", "segment-file-1", "segment-file-2", "snapshot-file-1", "snapshot-file-2",
    ]
    assert (target / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------- CLI details


def test_dash_h_is_help() -> None:
    for args in (["-h"], ["list", "-h"], ["serve", "-h"]):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: ")


def test_a_word_for_an_id_says_what_is_valid(tmp_path: Path) -> None:
    result = cli("status", tmp_path.as_uri(), "latest")
    assert result.returncode == 2
    assert (
        "backup (checkpoint) id must be a whole number from 1 to 9223372036854775807 written "
        "in ASCII decimal digits only, got 'latest'"
    ) in " ".join(result.stderr.split())
    assert "not a valid integer range" not in result.stderr


def test_delete_without_a_terminal_asks_for_yes(store: StoreDir) -> None:
    before = store.tree()
    result = cli("delete", store.url, "10")
    assert result.returncode == 1
    assert "pass --yes" in one_line(result.stderr)
    assert store.tree() == before


def test_sizes_are_in_binary_units(tmp_path: Path) -> None:
    assert human_size(int(1.5 * 1024**3)) == "1.5 GiB"
    assert human_size(1024) == "1 KiB"
    assert human_size(999) == "999 bytes"
    store = StoreDir(tmp_path / "store")
    asyncio.run(_save(store, tmp_path / "data", [A], sizes={"segment": 1024 * 1024 + 512 * 1024}))
    result = cli("restore", store.url, "10", "--partition", "1", "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "1 file, 1.5 MiB." in result.stdout


def test_commands_other_than_serve_do_not_load_the_web_stack(store: StoreDir) -> None:
    code = (
        "import sys\n"
        "from backup_store.cli import main\n"
        f"try:\n    main(['list', {store.url!r}])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'fastapi')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_ctrl_c_while_the_command_line_loads_is_one_line() -> None:
    # The console script's guard, with the interrupt arriving while backup_store loads.
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'backup_store.cli':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "import backup_store_cli\n"
        "sys.exit(backup_store_cli.main())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 130
    assert result.stderr.strip() == "interrupted"
