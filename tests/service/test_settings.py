"""``backup-store serve`` configured as operators configure Zeebe, run as a user runs it.

Zeebe 8.7's ``ZEEBE_BROKER_DATA_BACKUP_*`` and Camunda 8.8's
``CAMUNDA_DATA_PRIMARYSTORAGE_BACKUP_*`` variables, our own ``BACKUP_STORE_URL``
and ``--store``, in that order of precedence (reversed); and a port in use.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from backup_store.service.settings import choose_store
from backup_store.stores.azure import AzureBackupStore
from backup_store.stores.gcs import GcsBackupStore
from backup_store.stores.s3 import S3BackupStore
from testbed.emulators import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY, S3Bucket
from tests.support.api_server import CLI, HOST, cli_server, client, wait_for_state
from tests.support.environment import CAMUNDA, ZEEBE, clean_environment


def zeebe_s3(bucket: S3Bucket, prefix: str = ZEEBE, base_path: str = "cluster-a") -> dict[str, str]:
    """The variables an operator sets for Zeebe's S3 store over the moto bucket."""
    return {
        f"{prefix}STORE": "S3",
        f"{prefix}S3_BUCKETNAME": bucket.name,
        f"{prefix}S3_ENDPOINT": bucket.endpoint,
        f"{prefix}S3_REGION": S3_REGION,
        f"{prefix}S3_ACCESSKEY": S3_ACCESS_KEY_ID,
        f"{prefix}S3_SECRETKEY": S3_SECRET_ACCESS_KEY,
        f"{prefix}S3_BASEPATH": base_path,
        f"{prefix}S3_FORCEPATHSTYLEACCESS": "true",
    }


def run_serve(cwd: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """``serve`` expected to stop before it serves (bad configuration, port in use)."""
    return subprocess.run(
        [*CLI, "serve", "--host", HOST, *options], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def keys_in(bucket: S3Bucket) -> list[str]:
    return [str(meta["path"]) for batch in bucket.store().list() for meta in batch]


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "work"
    folder.mkdir()
    yield folder


def take_backup(
    tmp_path: Path, cwd: Path, env: dict[str, str], *options: str, backup_id: int = 100
) -> str:
    """Start serve, take a backup, wait for COMPLETED, stop; the server's log."""
    server = cli_server(tmp_path, *options, env=env, cwd=cwd, name=f"server-{backup_id}")
    with server, client(server) as api:
        response = api.post("/actuator/backups", json={"backupId": backup_id})
        assert response.status_code == 202, response.text
        wait_for_state(api, backup_id, "COMPLETED")
    return server.log()


def test_zeebe_variables_alone_configure_an_s3_store(
    tmp_path: Path, workdir: Path, s3_bucket: S3Bucket
) -> None:
    env = clean_environment(**zeebe_s3(s3_bucket), **{f"{ZEEBE}S3_MAXCONCURRENTCONNECTIONS": "4"})
    log = take_backup(tmp_path, workdir, env)
    keys = keys_in(s3_bucket)
    assert "cluster-a/1/100/0/manifest.json" in keys
    assert "cluster-a/2/100/0/manifest.json" in keys
    assert not (workdir / "backups").exists()  # not the default filesystem store
    assert f"backup store chosen by {ZEEBE}*: s3://{s3_bucket.name}/cluster-a" in log
    assert S3_SECRET_ACCESS_KEY not in log


def test_camunda_variables_configure_the_store_too(
    tmp_path: Path, workdir: Path, s3_bucket: S3Bucket
) -> None:
    env = clean_environment(**zeebe_s3(s3_bucket, CAMUNDA, "cluster-b"))
    log = take_backup(tmp_path, workdir, env)
    assert "cluster-b/1/100/0/manifest.json" in keys_in(s3_bucket)
    assert f"backup store chosen by {CAMUNDA}*" in log


def test_camunda_and_zeebe_settings_combine(
    tmp_path: Path, workdir: Path, s3_bucket: S3Bucket
) -> None:
    env = zeebe_s3(s3_bucket)
    env[f"{CAMUNDA}S3_BASEPATH"] = env.pop(f"{ZEEBE}S3_BASEPATH")  # one setting from 8.8
    env[f"{CAMUNDA}S3_BUCKETNAME"] = s3_bucket.name  # the same value twice is no conflict
    take_backup(tmp_path, workdir, clean_environment(**env))
    assert "cluster-a/1/100/0/manifest.json" in keys_in(s3_bucket)


def test_conflicting_camunda_and_zeebe_values_refuse_to_start(
    workdir: Path, s3_bucket: S3Bucket
) -> None:
    env = zeebe_s3(s3_bucket)
    env[f"{CAMUNDA}S3_SECRETKEY"] = "another-secret-value"
    result = run_serve(workdir, clean_environment(**env), "--port", "0")
    assert result.returncode == 2, result.stderr
    assert f"{CAMUNDA}S3_SECRETKEY" in result.stderr
    assert f"{ZEEBE}S3_SECRETKEY" in result.stderr
    assert "another-secret-value" not in result.stderr
    assert S3_SECRET_ACCESS_KEY not in result.stderr
    assert list(workdir.iterdir()) == []


def test_our_variable_wins_over_zeebe_and_the_option_over_ours(
    tmp_path: Path, workdir: Path
) -> None:
    zeebe_dir, ours_dir, option_dir = (tmp_path / name for name in ("zeebe", "ours", "option"))
    env = clean_environment(
        **{f"{ZEEBE}STORE": "FILESYSTEM", f"{ZEEBE}FILESYSTEM_BASEPATH": str(zeebe_dir)},
        BACKUP_STORE_URL=ours_dir.as_uri(),
    )
    log = take_backup(tmp_path, workdir, env)
    assert (ours_dir / "manifests").is_dir() and not zeebe_dir.exists()
    assert "backup store chosen by BACKUP_STORE_URL" in log
    log = take_backup(tmp_path, workdir, env, "--store", option_dir.as_uri(), backup_id=101)
    assert (option_dir / "manifests").is_dir() and not zeebe_dir.exists()
    assert "backup store chosen by --store" in log


def test_zeebe_filesystem_store(tmp_path: Path, workdir: Path) -> None:
    env = clean_environment(**{
        f"{ZEEBE}STORE": "filesystem",  # Spring binds enums ignoring case
        f"{ZEEBE}FILESYSTEM_BASEPATH": "zeebe-backups",  # relative to the working directory
    })
    take_backup(tmp_path, workdir, env)
    assert (workdir / "zeebe-backups" / "manifests").is_dir()


@pytest.mark.parametrize(
    ("misspelt", "nearest"),
    [
        (f"{ZEEBE}STOR", f"{ZEEBE}STORE"),
        (f"{ZEEBE}FILESYSTEM_BASEPTH", f"{ZEEBE}FILESYSTEM_BASEPATH"),
        (f"{CAMUNDA}S3_BUCKET", f"{CAMUNDA}S3_BUCKETNAME"),
    ],
)
def test_a_misspelt_variable_name_is_an_error_naming_the_nearest(
    workdir: Path, misspelt: str, nearest: str
) -> None:
    env = clean_environment(**{
        f"{ZEEBE}STORE": "FILESYSTEM", f"{ZEEBE}FILESYSTEM_BASEPATH": "zeebe-backups",
        misspelt: "x",
    })
    env.pop(nearest, None)
    result = run_serve(workdir, env, "--port", "0")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: {misspelt} is not a backup setting: did you mean {nearest}?"
    )
    assert list(workdir.iterdir()) == []  # no fallback to ./backups, no sample data


def test_camunda_backup_schedule_variables_are_known(tmp_path: Path, workdir: Path) -> None:
    env = clean_environment(**{
        f"{CAMUNDA}STORE": "FILESYSTEM", f"{CAMUNDA}FILESYSTEM_BASEPATH": "b",
        f"{CAMUNDA}CONTINUOUS": "true", f"{CAMUNDA}CHECKPOINTINTERVAL": "PT1M",
    })
    log = take_backup(tmp_path, workdir, env)
    assert (workdir / "b" / "manifests").is_dir()
    assert "WARNING" not in log


@pytest.mark.parametrize(
    ("variables", "options", "node"),
    [
        ({"ZEEBE_BROKER_CLUSTER_NODEID": "3"}, (), 3),
        ({"CAMUNDA_CLUSTER_NODEID": "4"}, (), 4),
        ({"CAMUNDA_CLUSTER_NODEID": "4", "ZEEBE_BROKER_CLUSTER_NODEID": "4"}, (), 4),
        ({"ZEEBE_BROKER_CLUSTER_NODEID": "3"}, ("--node-id", "5"), 5),
    ],
)
def test_the_node_id_comes_from_the_broker_variables(
    tmp_path: Path,
    workdir: Path,
    variables: dict[str, str],
    options: tuple[str, ...],
    node: int,
) -> None:
    store = tmp_path / "store"
    env = clean_environment(BACKUP_STORE_URL=store.as_uri(), **variables)
    log = take_backup(tmp_path, workdir, env, *options)
    assert (store / "manifests" / "1" / "100" / str(node) / "manifest.json").is_file()
    assert f"Backup Management API of node {node}:" in log


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"ZEEBE_BROKER_CLUSTER_NODEID": "three"}, "ZEEBE_BROKER_CLUSTER_NODEID: "),
        ({"CAMUNDA_CLUSTER_NODEID": "-1"}, "CAMUNDA_CLUSTER_NODEID: "),
        ({"CAMUNDA_CLUSTER_NODEID": "1", "ZEEBE_BROKER_CLUSTER_NODEID": "2"},
         "CAMUNDA_CLUSTER_NODEID=1 and ZEEBE_BROKER_CLUSTER_NODEID=2 differ"),
    ],
)
def test_a_wrong_node_id_variable_is_an_error(
    workdir: Path, variables: dict[str, str], message: str
) -> None:
    result = run_serve(workdir, clean_environment(**variables), "--port", "0")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {message}")
    assert "Usage:" not in result.stderr
    assert list(workdir.iterdir()) == []


def test_store_none_serves_with_backup_disabled(tmp_path: Path, workdir: Path) -> None:
    server = cli_server(tmp_path, env=clean_environment(**{f"{CAMUNDA}STORE": "NONE"}), cwd=workdir)
    with server, client(server) as api:
        assert api.post("/actuator/backups", json={"backupId": 1}).status_code == 400
    assert not (workdir / "backups").exists()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"STORE": "S3"}, "Failed configuring backup store S3: Bucket name must not be empty."),
        ({"STORE": "S3", "S3_BUCKETNAME": "b", "S3_BASEPATH": "/a/"},
         "basePath must not start or end with '/' but was: /a/"),
        ({"STORE": "S3", "S3_BUCKETNAME": "b", "S3_BASEPATH": ""},
         "basePath is set but empty. It must be either unset or not empty."),
        ({"STORE": "S3", "S3_BUCKETNAME": "b", "S3_COMPRESSION": "rar"},
         "Can't use compression algorithm rar. Only supports"),
        ({"STORE": "S3", "S3_BUCKETNAME": "b", "S3_APICALLTIMEOUT": "soon"},
         f"{ZEEBE}S3_APICALLTIMEOUT: 'soon' is not a duration"),
        ({"STORE": "S3", "S3_BUCKETNAME": "b", "S3_FORCEPATHSTYLEACCESS": "maybe"},
         "'maybe' is not true or false"),
        ({"STORE": "GCS"}, "Failed configuring backup store GCS: bucketName must be provided"),
        ({"STORE": "AZURE", "AZURE_BASEPATH": "c"}, "Connection string or endpoint is required"),
        ({"STORE": "AZURE", "AZURE_ENDPOINT": "http://h", "AZURE_ACCOUNTKEY": "k",
          "AZURE_BASEPATH": "c"}, "Account key is specified but account name is missing"),
        ({"STORE": "AZURE", "AZURE_ENDPOINT": "http://h"}, "Container name cannot be null."),
        ({"STORE": "FILESYSTEM"}, "Expected a basePath to be provided, but got [None]"),
        ({"STORE": "TAPE"}, f"{ZEEBE}STORE: 'TAPE' is not one of S3, GCS, AZURE, FILESYSTEM, NONE"),
    ],
)
def test_values_zeebe_refuses_are_errors_at_start(
    workdir: Path, variables: dict[str, str], message: str
) -> None:
    env = clean_environment(**{ZEEBE + name: value for name, value in variables.items()})
    result = run_serve(workdir, env, "--port", "0")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert list(workdir.iterdir()) == []  # nothing created


def test_zeebe_settings_map_onto_ours(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The documented mapping (docs/operator-guide.md), setting by setting."""
    for name in list(os.environ):
        if name.startswith((ZEEBE, CAMUNDA, "BACKUP_STORE_")):
            monkeypatch.delenv(name)
    for name, value in {
        "STORE": "s3", "S3_BUCKETNAME": "b", "S3_ENDPOINT": "http://127.0.0.1:9",
        "S3_MAXCONCURRENTCONNECTIONS": "12", "S3_APICALLTIMEOUT": "PT3M",
        "S3_CONNECTIONACQUISITIONTIMEOUT": "45000", "S3_COMPRESSION": "zstd",
        "S3_FORCEPATHSTYLEACCESS": "TRUE",
    }.items():  # fmt: skip
        monkeypatch.setenv(ZEEBE + name, value)
    choice = choose_store(None, default_directory=tmp_path)
    assert choice.open is not None
    store = choice.open()
    assert isinstance(store, S3BackupStore)
    config = store.config
    assert config.max_concurrency == 12
    assert timedelta(seconds=config.request_timeout_seconds) == timedelta(minutes=3)
    assert config.connect_timeout_seconds == 45
    assert (config.compression, config.force_path_style) == ("zstd", True)

    monkeypatch.setenv(ZEEBE + "STORE", "GCS")
    for name, value in {"GCS_BUCKETNAME": "g", "GCS_BASEPATH": "/base/", "GCS_AUTH": "none",
                        "GCS_HOST": "http://127.0.0.1:9"}.items():  # fmt: skip
        monkeypatch.setenv(ZEEBE + name, value)
    gcs = choose_store(None, default_directory=tmp_path)
    assert gcs.open is not None
    gcs_store = gcs.open()
    assert isinstance(gcs_store, GcsBackupStore)
    assert (gcs_store.config.base_path, gcs_store.config.host) == ("base", "http://127.0.0.1:9")
    assert any("ignored (the store is GCS)" in warning for warning in gcs.warnings)

    monkeypatch.setenv(ZEEBE + "STORE", "AZURE")
    for name, value in {"AZURE_ENDPOINT": "http://127.0.0.1:9/acct", "AZURE_BASEPATH": "c",
                        "AZURE_SASTOKEN_TYPE": "service", "AZURE_SASTOKEN_VALUE": "sv=1&sig=x",
                        "AZURE_CREATECONTAINER": "true"}.items():  # fmt: skip
        monkeypatch.setenv(ZEEBE + name, value)
    azure = choose_store(None, default_directory=tmp_path).open
    assert azure is not None
    azure_store = azure()
    assert isinstance(azure_store, AzureBackupStore)
    # As Zeebe: a service SAS token cannot create containers.
    assert (azure_store.config.container, azure_store.config.create_container) == ("c", False)


def test_serve_on_a_port_in_use_fails_before_creating_anything(workdir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_serve(workdir, clean_environment(), "--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: cannot listen on {HOST}:{port}: port {port} is already in use"]
    assert result.stdout == ""
    assert list(workdir.iterdir()) == []  # neither ./data nor ./backups
