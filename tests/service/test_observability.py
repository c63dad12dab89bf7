"""Health probes, Prometheus metrics and logs: the real server as a subprocess, and in-process."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from backup_store import (
    Backup,
    BackupIdentifier,
    BackupStatus,
    BackupStatusCode,
    BackupStore,
    MemoryBackupStore,
)
from backup_store.api.health import (
    HEALTH_PATHS,
    LIVENESS_PATH,
    READINESS_PATH,
    StoreHealth,
)
from backup_store.cli import main
from backup_store.model import BackupIdentifierWildcard, NamedFileSet
from backup_store.service import (
    BackupService,
    Checkpoint,
    CheckpointContent,
    PartitionSource,
)
from backup_store.service.logs import JsonFormatter, TextFormatter, configure_logging, log_context
from backup_store.service.metrics import BackupMetrics
from tests.support.api_server import ServerProcess, cli_server, client, free_port, wait_for_state

TOKEN = "observability-token"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: httpx.Client) -> Samples:
    response = api.get("/actuator/prometheus")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def served(tmp_path: Path, *options: str, store: str | None = None) -> ServerProcess:
    return cli_server(
        tmp_path,
        "--store", store or (tmp_path / "store").as_uri(),
        "--data-dir", str(tmp_path / "data"),
        "--no-writer",
        *options,
    )


# ---------------------------------------------------------------- the server as a subprocess


def test_probes_answer_without_the_token_and_metrics_follow_a_backup(tmp_path: Path) -> None:
    with served(tmp_path, "--token", TOKEN, "--log-format", "json") as server:
        anonymous = client(server)
        for path in HEALTH_PATHS:
            response = anonymous.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.json()["status"] == "UP"
        readiness = anonymous.get(READINESS_PATH).json()
        assert readiness["components"]["backupStore"]["status"] == "UP"
        assert readiness["components"]["readinessState"] == {"status": "UP"}
        assert anonymous.get(LIVENESS_PATH).json()["components"] == {
            "livenessState": {"status": "UP"}
        }
        assert set(anonymous.get("/actuator/health").json()["groups"]) == {"liveness", "readiness"}
        # The token still guards the backups.
        assert anonymous.get("/actuator/backups").status_code == 401

        before = scrape(anonymous)
        api = client(server, Authorization=f"Bearer {TOKEN}")
        assert api.post("/actuator/backups", json={"backupId": 100}).status_code == 202
        wait_for_state(api, 100, "COMPLETED")
        after = scrape(anonymous)

    for partition in ("1", "2"):
        take = {"operation": "take", "partition": partition}
        total = "zeebe_backup_operations_total"
        assert value(after, total, **take, result="completed") == 1
        assert value(before, total, **take, result="completed") == 0
        assert value(after, total, **take, result="failed") == 0
        assert value(after, "zeebe_backup_operations_latency_seconds_count", **take) == 1
        assert value(after, "zeebe_backup_operations_in_progress", **take) == 0
        # GET /actuator/backups/100 asked every partition of this node for its status.
        status = {"operation": "status", "partition": partition, "result": "completed"}
        assert value(after, total, **status) >= 1
        backup = tmp_path / "store" / "contents" / partition / "100" / "0"
        stored = [f for f in backup.glob("s*/*") if f.parent.name in ("snapshot", "segments")]
        assert stored
        assert value(after, "backup_store_transferred_files_total", **take) == len(stored)
        assert value(after, "backup_store_transferred_bytes_total", **take) == sum(
            f.stat().st_size for f in stored
        )
    assert value(after, "backup_store_backups_in_progress") == 0
    assert ("process_resident_memory_bytes", frozenset()) in after

    records = [json.loads(line) for line in server.log().splitlines()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("Z")
    taken = [r for r in records if r.get("backupId") == 100 and "partitionId" in r]
    assert {r["partitionId"] for r in taken} == {1, 2}
    assert {r["operation"] for r in taken} == {"take"}
    startup = [r for r in records if "Application startup complete" in r["message"]]
    assert [r["logger"] for r in startup] == ["uvicorn.server"]
    assert not [r for r in records if r["logger"] == "uvicorn.error"]
    assert TOKEN not in server.log()
    # Successful probes and scrapes are not access-logged; the backup requests are.
    access = [r["message"] for r in records if r["logger"] == "uvicorn.access"]
    assert any("/actuator/backups" in line for line in access)
    assert not any("/actuator/health" in line or "/actuator/prometheus" in line for line in access)


def test_readiness_is_down_while_the_store_does_not_answer(tmp_path: Path) -> None:
    secret = "readiness-secret-key"
    store = (
        f"s3://bucket/base?endpoint=http://127.0.0.1:{free_port()}&region=us-east-1"
        f"&access_key_id=readiness-key-id&secret_access_key={secret}&max_retries=0"
    )
    with served(tmp_path, store=store) as server:
        anonymous = client(server)
        assert anonymous.get(LIVENESS_PATH).status_code == 200
        for path in (READINESS_PATH, "/actuator/health"):
            response = anonymous.get(path)
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["status"] == "DOWN"
            backup_store = body["components"]["backupStore"]
            assert backup_store["status"] == "DOWN"
            assert "s3://bucket/base" in backup_store["details"]["store"]
            assert backup_store["details"]["error"]
            assert secret not in response.text
            assert "readiness-key-id" not in response.text


def test_metrics_can_require_the_token(tmp_path: Path) -> None:
    with served(tmp_path, "--token", TOKEN, "--protect-metrics") as server:
        assert client(server).get("/actuator/prometheus").status_code == 401
        assert client(server).get(READINESS_PATH).status_code == 200
        scrape(client(server, Authorization=f"Bearer {TOKEN}"))


def test_backup_disabled_is_ready_with_an_unknown_store(tmp_path: Path) -> None:
    with served(tmp_path, store="none") as server:
        response = client(server).get(READINESS_PATH)
        assert response.status_code == 200
        assert response.json()["components"]["backupStore"]["status"] == "UNKNOWN"
        assert ("process_cpu_seconds_total", frozenset()) in scrape(client(server))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--log-format", "xml"], "--log-format"),
        (["--protect-metrics"], "--protect-metrics needs --token"),
    ],
)
def test_bad_observability_options_are_usage_errors(
    tmp_path: Path, options: list[str], expected: str
) -> None:
    result = CliRunner(env={"BACKUP_STORE_TOKEN": None}).invoke(
        main, ["serve", "--store", "none", "--data-dir", str(tmp_path / "data"), *options]
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output


# ---------------------------------------------------------------- the store check


class CountingStore(BackupStore):
    """Another kind of store (not on obstore), over a real memory store: counts status reads."""

    def __init__(self) -> None:
        self.inner = MemoryBackupStore()
        self.reads = 0
        self.answer = asyncio.Event()
        self.answer.set()

    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        self.reads += 1
        await self.answer.wait()
        return await self.inner.get_status(backup_id)

    async def list(
        self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
    ) -> list[BackupStatus]:
        raise AssertionError("a health check must never list")

    async def save(self, backup: Backup) -> None:
        await self.inner.save(backup)

    async def delete(self, backup_id: BackupIdentifier) -> None:
        await self.inner.delete(backup_id)

    async def restore(self, backup_id: BackupIdentifier, target_dir: Path) -> Backup:
        return await self.inner.restore(backup_id, target_dir)

    async def mark_failed(self, backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        return await self.inner.mark_failed(backup_id, reason)

    async def store_backup_metadata(self, partition_id: int, content: bytes) -> None:
        await self.inner.store_backup_metadata(partition_id, content)

    async def load_backup_metadata(self, partition_id: int) -> bytes | None:
        return await self.inner.load_backup_metadata(partition_id)

    async def close(self) -> None:
        await self.inner.close()


async def test_the_store_check_is_cached_shared_and_never_lists() -> None:
    now = [100.0]
    store = CountingStore()
    checker = StoreHealth(store, ttl=5.0, timeout=1.0, clock=lambda: now[0])
    store.answer.clear()
    first = [asyncio.create_task(checker.check()) for _ in range(5)]
    await asyncio.sleep(0)
    store.answer.set()
    results = await asyncio.gather(*first)
    assert {r.status for r in results} == {"UP"}
    assert store.reads == 1
    now[0] += 4.9
    await checker.check()
    assert store.reads == 1
    now[0] += 0.2
    await checker.check()
    assert store.reads == 2


async def test_a_store_that_does_not_answer_in_time_is_down() -> None:
    store = CountingStore()
    store.answer.clear()
    health = await StoreHealth(store, timeout=0.05).check()
    assert health.status == "DOWN"
    assert "did not answer within 0.05 seconds" in health.details["error"]


class UnlistableStore(MemoryBackupStore):
    async def list(
        self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
    ) -> list[BackupStatus]:
        raise AssertionError("a health check must never list")

    async def list_ids(
        self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
    ) -> builtins.list[BackupIdentifier]:
        raise AssertionError("a health check must never list")


async def test_an_object_store_is_asked_without_listing() -> None:
    async with UnlistableStore() as store:
        assert (await StoreHealth(store).check()).status == "UP"


async def test_an_object_store_answers_with_one_head_request(tmp_path: Path) -> None:
    from backup_store.stores.filesystem import FilesystemBackupStore

    async with FilesystemBackupStore(tmp_path / "fs") as store:
        assert (await StoreHealth(store).check()).status == "UP"
    async with FilesystemBackupStore(tmp_path / "fs") as store:
        # A file where the folder should be: the store cannot answer.
        (tmp_path / "fs").rmdir()
        (tmp_path / "fs").write_text("not a folder")
        health = await StoreHealth(store).check()
        assert health.status == "DOWN", health


# ---------------------------------------------------------------- service metrics in-process


class FailingSource(PartitionSource):
    """A partition that records checkpoints and then cannot hand over its files."""

    def __init__(self, partition_id: int, files: Path) -> None:
        self._partition_id = partition_id
        self.latest = 0
        self.files = files

    @property
    def partition_id(self) -> int:
        return self._partition_id

    async def latest_checkpoint_id(self) -> int:
        return self.latest

    async def record_checkpoint(self, checkpoint_id: int) -> Checkpoint:
        self.latest = checkpoint_id
        return Checkpoint(self._partition_id, checkpoint_id, checkpoint_id)

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        return CheckpointContent(
            snapshot_id="1-1-1-1",
            checkpoint_position=checkpoint.position,
            segments=NamedFileSet({"gone.log": self.files / "gone.log"}),
        )


async def test_a_failed_backup_counts_as_failed_and_latencies_use_the_clock(
    tmp_path: Path,
) -> None:
    now = [0.0]
    metrics = BackupMetrics(clock=lambda: now[0], process=False)

    class SlowStore(MemoryBackupStore):
        async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
            now[0] += 2.5
            return await super().get_status(backup_id)

        async def list(
            self, wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard()  # noqa: B008
        ) -> list[BackupStatus]:
            now[0] += 2.5
            return await super().list(wildcard)

    async with SlowStore() as store, BackupService(
        store, [FailingSource(1, tmp_path)], metrics=metrics
    ) as service:
        await service.take_backup(7)
        await service.wait_for_backups()
        await service.get_backup(7)
    registry = metrics.registry
    take = {"partition": "1", "operation": "take"}
    assert registry.get_sample_value("zeebe_backup_operations_total", {**take, "result": "failed"})
    assert registry.get_sample_value(
        "zeebe_backup_operations_total", {**take, "result": "completed"}
    ) is None
    status = {"partition": "1", "operation": "status"}
    assert registry.get_sample_value("zeebe_backup_operations_latency_seconds_sum", status) == 2.5
    assert registry.get_sample_value(
        "zeebe_backup_operations_latency_seconds_bucket", {**status, "le": "1.0"}
    ) == 0
    assert registry.get_sample_value(
        "zeebe_backup_operations_latency_seconds_bucket", {**status, "le": "10.0"}
    ) == 1
    assert registry.get_sample_value("backup_store_transferred_files_total", take) is None
    assert registry.get_sample_value("backup_store_backups_in_progress") == 0


# ---------------------------------------------------------------- log formats


def _record(message: str, name: str = "backup_store.service") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def test_text_lines_end_with_the_context() -> None:
    configure_logging("info", "text")
    handler = logging.getLogger().handlers[0]
    with log_context(backup_id=100, partition_id=2, operation="take"):
        record = _record("backup completed")
        assert handler.filter(record)
    line = TextFormatter().format(record)
    assert line.endswith(
        "INFO    backup_store.service: backup completed [backupId=100 partitionId=2 operation=take]"
    )
    outside = _record("started")
    assert handler.filter(outside)
    assert TextFormatter().format(outside).endswith("backup_store.service: started")


def test_json_lines_carry_exceptions_and_uvicorn_renames() -> None:
    configure_logging("info", "json")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler.formatter, JsonFormatter)
    startup = _record("Application startup complete.", name="uvicorn.error")
    assert handler.filter(startup)
    assert json.loads(handler.format(startup))["logger"] == "uvicorn.server"
    failure = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom", None, None)
    assert handler.filter(failure)
    assert json.loads(handler.format(failure))["logger"] == "uvicorn.error"
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        failed = logging.LogRecord(
            "backup_store.api", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    assert handler.filter(failed)
    document = json.loads(handler.format(failed))
    assert document["message"] == "failed x"
    assert "ValueError: bad" in document["exception"]
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("info", "xml")
