"""Management API scenarios that need their own server processes.

Restarts, several nodes writing one store, backups held in progress, a server
killed mid-backup, an unreachable store (502), requests that exceed the timeout
(504), unexpected errors (500), bearer tokens, backup disabled, and the exact
bytes of a backup taken while the sample writer appends.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from backup_store import BackupIdentifier, open_store
from backup_store.service import RESTART_REASON
from tests.support.api_server import (
    cli_server,
    client,
    launcher_server,
    wait_for_state,
    wait_until,
)

INVALID = "A backupId must be provided and it must be > 0"


def take(api: httpx.Client, backup_id: int | str) -> httpx.Response:
    return api.post("/actuator/backups", json={"backupId": backup_id})


def message(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message"}, body
    assert "Traceback" not in body["message"]
    text: str = body["message"]
    return text


def manifest_path(store: Path, partition: int, backup_id: int, node: int = 0) -> Path:
    return store / "manifests" / str(partition) / str(backup_id) / str(node) / "manifest.json"


def status_code(store: Path, partition: int, backup_id: int, node: int = 0) -> str | None:
    path = manifest_path(store, partition, backup_id, node)
    if not path.exists():
        return None
    code: str = json.loads(path.read_text())["statusCode"]
    return code


def failed_because(reason: str, *partitions: int) -> str:
    return "".join(f"Backup on partition {p} failed due to {reason}. " for p in partitions)


def test_seed_curl_examples_against_the_embedded_default(tmp_path: Path) -> None:
    """``make serve``: no options but the port; the store and data land in the working dir."""
    work = tmp_path / "checkout"
    work.mkdir()
    with cli_server(tmp_path, cwd=work) as server, client(server) as api:
        assert (work / "data" / ".backup-store-sample").is_file()
        assert "Try: curl --request POST" in server.log()
        # curl --request POST ... -H 'Content-Type: application/json' -d '{ "backupId": "100" }'
        response = api.post("/actuator/backups", content=b'{ "backupId": "100" }',
                            headers={"Content-Type": "application/json"})
        assert response.status_code == 202
        assert response.json() == {
            "message": "A backup with id 100 has been scheduled. Use GET "
            "actuator/backups/100 to monitor the status."
        }
        response = api.get("/actuator/backups/100")
        assert response.status_code == 200
        assert response.json()["state"] in ("IN_PROGRESS", "COMPLETED")
        body = wait_for_state(api, 100, "COMPLETED")
        assert [d["state"] for d in body["details"]] == ["COMPLETED", "COMPLETED"]
        listed = api.get("/actuator/backups")
        assert listed.status_code == 200
        assert [i["backupId"] for i in listed.json()] == [100]
        deleted = api.delete("/actuator/backups/100")
        assert deleted.status_code == 204 and deleted.content == b""
        assert api.get("/actuator/backups").json() == []
    assert (work / "backups" / ".backup-store.json").is_file()
    assert "store:      file://" in server.log()


def test_prefix_listing_and_order(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with cli_server(tmp_path, "--store", store.as_uri(), "--data-dir", str(tmp_path / "data"),
                    "--no-writer") as server, client(server) as api:
        assert api.get("/actuator/backups").json() == []
        assert api.get("/actuator/backups/10*").json() == []
        for backup_id in (9, 10, 11, 100, 105, 200):
            assert take(api, backup_id).status_code == 202
        for backup_id in (9, 10, 11, 100, 105, 200):
            wait_for_state(api, backup_id, "COMPLETED")
        assert [i["backupId"] for i in api.get("/actuator/backups").json()] == [
            200, 105, 100, 11, 10, 9
        ]
        assert [i["backupId"] for i in api.get("/actuator/backups/10*").json()] == [105, 100, 10]
        assert [i["backupId"] for i in api.get("/actuator/backups/1*").json()] == [
            105, 100, 11, 10
        ]
        assert [i["backupId"] for i in api.get("/actuator/backups/200*").json()] == [200]
        assert api.get("/actuator/backups/3*").json() == []
        assert len(api.get("/actuator/backups/*").json()) == 6
        for info in api.get("/actuator/backups/10*").json():
            assert [list(d) for d in info["details"]] == [
                ["partitionId", "state", "createdAt", "brokerVersion"]
            ] * 2


def test_ids_survive_deletion_and_restart(tmp_path: Path) -> None:
    options = ("--store", (tmp_path / "store").as_uri(), "--data-dir", str(tmp_path / "data"))
    server = cli_server(tmp_path, *options)
    with server, client(server) as api:
        assert take(api, 50).status_code == 202
        wait_for_state(api, 50, "COMPLETED")
    with cli_server(tmp_path, *options, port=server.port, name="again") as again, \
            client(again) as api:
        assert wait_for_state(api, 50, "COMPLETED")["backupId"] == 50
        assert "The latest backup has ID 50." in message(take(api, 50), 409)
        assert message(take(api, 40), 409).startswith("Requested backup has ID 40. ")
        assert api.delete("/actuator/backups/50").status_code == 204
    with cli_server(tmp_path, *options, port=server.port, name="third") as third, \
            client(third) as api:
        message(api.get("/actuator/backups/50"), 404)
        assert "The latest backup has ID 50." in message(take(api, 50), 409)
        assert take(api, 51).status_code == 202


def test_aggregation_over_several_nodes_writing_one_store(tmp_path: Path) -> None:
    """Node 0 serves partitions 1 and 2, node 1 partition 3, node 2 a copy of partition 1."""
    store = tmp_path / "store"
    hold1, hold2 = tmp_path / "hold-node-1", tmp_path / "hold-node-2"

    def node(node_id: int, partitions: list[int], hold: Path | None, **extra: Any) -> Any:
        config = {"store": str(store), "data_dir": str(tmp_path / f"data-{node_id}"),
                  "partitions": partitions, "node_id": node_id,
                  "hold_uploads": str(hold) if hold else None, **extra}
        return config

    node0 = launcher_server(tmp_path, node(0, [1, 2], None, partition_count=3), name="node0")
    node1_config = node(1, [3], hold1, partition_count=3)
    node1 = launcher_server(tmp_path, node1_config, name="node1")
    # Node 2 only knows partition 1: the partition count comes from the descriptors.
    node2 = launcher_server(tmp_path, node(2, [1], hold2), name="node2")
    with node0, node1, node2, client(node0) as api0, client(node1) as api1, \
            client(node2) as api2:
        # INCOMPLETE: only node 0 took backup 100.
        assert take(api0, 100).status_code == 202
        wait_until(lambda: status_code(store, 1, 100) == status_code(store, 2, 100) ==
                   "COMPLETED", what="node 0's backups")
        body = api1.get("/actuator/backups/100").json()
        assert body["state"] == "INCOMPLETE"
        assert [d["state"] for d in body["details"]] == ["COMPLETED", "COMPLETED",
                                                          "DOES_NOT_EXIST"]
        assert body["details"][2] == {"partitionId": 3, "state": "DOES_NOT_EXIST"}
        assert "failureReason" not in body
        assert api2.get("/actuator/backups/100").json() == body

        # IN_PROGRESS: node 1's upload is held.
        hold1.touch()
        assert take(api1, 100).status_code == 202
        body = wait_for_state(api0, 100, "IN_PROGRESS")
        assert [d["state"] for d in body["details"]] == ["COMPLETED", "COMPLETED", "IN_PROGRESS"]
        assert body["details"][2]["brokerId"] == 1
        wait_until(lambda: status_code(store, 3, 100, node=1) == "IN_PROGRESS", what="manifest")

        # COMPLETED once released.
        hold1.unlink()
        body = wait_for_state(api0, 100, "COMPLETED")
        assert [(d["partitionId"], d["brokerId"]) for d in body["details"]] == [
            (1, 0), (2, 0), (3, 1)
        ]

        # Copies of partition 1: node 2's held copy does not beat node 0's COMPLETED one.
        hold2.touch()
        assert take(api2, 100).status_code == 202
        wait_until(lambda: status_code(store, 1, 100, node=2) == "IN_PROGRESS", what="copy")
        assert api0.get("/actuator/backups/100").json() == body

        # FAILED: node 1 is killed while it backs up 200; its restart marks it failed.
        hold1.touch()
        assert take(api1, 200).status_code == 202
        wait_until(lambda: status_code(store, 3, 200, node=1) == "IN_PROGRESS", what="manifest")
        node1.kill()
        hold1.unlink()
        restarted = launcher_server(tmp_path, node1_config, name="node1-again", port=node1.port)
        with restarted:
            assert status_code(store, 3, 200, node=1) == "FAILED"
            assert take(api0, 200).status_code == 202
            wait_until(lambda: status_code(store, 2, 200) == "COMPLETED", what="node 0")
            wait_until(lambda: status_code(store, 1, 200) == "COMPLETED", what="node 0")
            body = api0.get("/actuator/backups/200").json()
            assert body["state"] == "FAILED"
            assert body["failureReason"] == failed_because(RESTART_REASON, 3)
            assert body["details"][2]["failureReason"] == RESTART_REASON
            assert [d["state"] for d in body["details"]] == ["COMPLETED", "COMPLETED", "FAILED"]
            listed = {i["backupId"]: i for i in api0.get("/actuator/backups").json()}
            assert [listed[200]["state"], listed[100]["state"]] == ["FAILED", "COMPLETED"]
            assert listed[200]["details"][2] == {
                "partitionId": 3, "state": "FAILED", "failureReason": RESTART_REASON,
                "createdAt": body["details"][2]["createdAt"], "brokerVersion": "8.7.0",
            }
        # Node 2's copy is still held: its node's restart recovery is not node 1's business.
        assert status_code(store, 1, 100, node=2) == "IN_PROGRESS"
        hold2.unlink()
        wait_until(lambda: status_code(store, 1, 100, node=2) == "COMPLETED", what="copy")


def test_delete_of_an_in_progress_backup(tmp_path: Path) -> None:
    store, hold = tmp_path / "store", tmp_path / "hold"
    config = {"store": str(store), "data_dir": str(tmp_path / "data"), "hold_uploads": str(hold)}
    hold.touch()
    with launcher_server(tmp_path, config) as server, client(server) as api:
        assert take(api, 100).status_code == 202
        wait_until(lambda: status_code(store, 1, 100) == status_code(store, 2, 100) ==
                   "IN_PROGRESS", what="manifests")
        assert wait_for_state(api, 100, "IN_PROGRESS")["details"][0]["state"] == "IN_PROGRESS"
        response = api.delete("/actuator/backups/100")
        assert response.status_code == 204
        message(api.get("/actuator/backups/100"), 404)
        assert not (store / "manifests" / "1" / "100").exists()
        assert not (store / "contents" / "1" / "100").exists()
        assert "The latest backup has ID 100." in message(take(api, 100), 409)
        hold.unlink()
        assert take(api, 101).status_code == 202
        wait_for_state(api, 101, "COMPLETED")
        # The deleted backup's upload did not come back after its release.
        message(api.get("/actuator/backups/100"), 404)


def test_restart_marks_a_killed_backup_failed(tmp_path: Path) -> None:
    store, hold = tmp_path / "store", tmp_path / "hold"
    config = {"store": str(store), "data_dir": str(tmp_path / "data"), "hold_uploads": str(hold)}
    hold.touch()
    server = launcher_server(tmp_path, config)
    with server, client(server) as api:
        assert take(api, 100).status_code == 202
        wait_until(lambda: status_code(store, 1, 100) == status_code(store, 2, 100) ==
                   "IN_PROGRESS", what="manifests")
        server.kill()
    hold.unlink()
    with launcher_server(tmp_path, config, port=server.port, name="again") as again, \
            client(again) as api:
        body = api.get("/actuator/backups/100").json()
        assert body["state"] == "FAILED"
        assert body["failureReason"] == failed_because(RESTART_REASON, 1, 2)
        assert [d["failureReason"] for d in body["details"]] == [RESTART_REASON] * 2
        assert "The latest backup has ID 100." in message(take(api, 100), 409)
        assert take(api, 101).status_code == 202
        wait_for_state(api, 101, "COMPLETED")
        assert "interrupted by a restart" in again.log()


def test_accepted_backup_of_a_server_killed_right_after_the_202_reads_failed(
    tmp_path: Path,
) -> None:
    """The acceptance is durable before the 202: killed before any upload (the
    partitions' content is held), the restarted server answers FAILED, not 404."""
    store, hold = tmp_path / "store", tmp_path / "hold"
    config = {"store": str(store), "data_dir": str(tmp_path / "data"), "hold_content": str(hold)}
    hold.touch()
    server = launcher_server(tmp_path, config)
    with server, client(server) as api:
        assert take(api, 100).status_code == 202
        server.kill()
    hold.unlink()
    with launcher_server(tmp_path, config, port=server.port, name="again") as again, \
            client(again) as api:
        body = api.get("/actuator/backups/100").json()
        assert body["state"] == "FAILED", body
        assert [d["failureReason"] for d in body["details"]] == [RESTART_REASON] * 2
        assert "The latest backup has ID 100." in message(take(api, 100), 409)


def test_unreachable_store_is_502_and_unexpected_errors_are_500(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with cli_server(tmp_path, "--store", store.as_uri(), "--data-dir", str(tmp_path / "data"),
                    "--no-writer") as server, client(server) as api:
        assert take(api, 10).status_code == 202
        wait_for_state(api, 10, "COMPLETED")
        moved = tmp_path / "moved"
        store.rename(moved)
        store.write_text("not a directory")
        for response in (
            api.get("/actuator/backups"),
            api.get("/actuator/backups/10"),
            api.get("/actuator/backups/1*"),
            take(api, 20),
            api.delete("/actuator/backups/10"),
        ):
            assert message(response, 502).startswith("The backup store could not be reached: ")
        store.unlink()
        moved.rename(store)
        # Nothing was recorded by the refused request.
        assert take(api, 20).status_code == 202
        wait_for_state(api, 20, "COMPLETED")

        # A partition's folder is gone: 502 naming it; nothing is recorded.
        data = tmp_path / "data"
        (data / "1").rename(tmp_path / "partition-1")
        assert message(take(api, 30), 502).startswith("A partition could not be reached: ")
        (tmp_path / "partition-1").rename(data / "1")

        # An unreadable checkpoint state: 500 with the cause.
        state = data / "2" / "backup-checkpoint.json"
        saved = state.read_bytes()
        state.write_text("{oops")
        assert "checkpoint state file" in message(take(api, 30), 500)
        state.write_bytes(saved)
        assert take(api, 30).status_code == 202
        wait_for_state(api, 30, "COMPLETED")

        # An unreadable manifest affects only its own partition: FAILED, naming the
        # damage, on GET one and the list; DELETE leaves it and says so (500).
        manifest_path(store, 2, 20).write_text("{not json")
        one = api.get("/actuator/backups/20")
        listed = {b["backupId"]: b for b in api.get("/actuator/backups").json()}
        for body in (one.json(), listed[20]):
            assert body["state"] == "FAILED" and "Damaged manifest" in body["failureReason"]
            assert [d["state"] for d in body["details"]] == ["COMPLETED", "FAILED"]
        assert listed[10]["state"] == listed[30]["state"] == "COMPLETED"
        text = message(api.delete("/actuator/backups/20"), 500)
        assert "manifest" in text and "damaged" in text and "20" in text
        assert manifest_path(store, 2, 20).exists()
        assert api.get("/actuator/backups/10").json()["state"] == "COMPLETED"


def test_requests_beyond_the_timeout_are_504(tmp_path: Path) -> None:
    hold_records, hold_reads = tmp_path / "hold-records", tmp_path / "hold-reads"
    config = {"store": str(tmp_path / "store"), "data_dir": str(tmp_path / "data"),
              "request_timeout": 0.5, "hold_records": str(hold_records),
              "hold_reads": str(hold_reads)}
    expected = "The request could not be handled within the configured timeout of 0.5 seconds."
    with launcher_server(tmp_path, config) as server, client(server) as api:
        hold_records.touch()
        assert message(take(api, 100), 504) == expected
        hold_records.unlink()
        # The recording went on: the backup is taken after all.
        wait_for_state(api, 100, "COMPLETED")
        hold_reads.touch()
        for response in (
            api.get("/actuator/backups/100"),
            api.get("/actuator/backups"),
            api.delete("/actuator/backups/100"),
            take(api, 101),
        ):
            assert message(response, 504) == expected
        hold_reads.unlink()
        assert api.get("/actuator/backups/100").json()["state"] == "COMPLETED"


def test_bearer_token(tmp_path: Path) -> None:
    # The token and the store URL come from the environment (kept out of `ps`).
    env = {"BACKUP_STORE_TOKEN": "s3cret-token", "TEST_STORE_URL": (tmp_path / "store").as_uri()}
    with cli_server(tmp_path, "--store", "env:TEST_STORE_URL", "--data-dir",
                    str(tmp_path / "data"), env=env) as server:
        assert "s3cret-token" not in server.log()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                        {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
            with client(server, **headers) as api:
                for response in (
                    api.get("/actuator/backups"),
                    api.get("/actuator/backups/openapi.json"),
                    api.get("/no/such/route"),
                    api.put("/actuator/backups"),
                    take(api, 1),
                ):
                    assert message(response, 401) == "A valid bearer token is required."
                    assert response.headers["www-authenticate"] == "Bearer"
        with client(server, Authorization="Bearer s3cret-token") as api:
            assert take(api, 1).status_code == 202
            wait_for_state(api, 1, "COMPLETED")
            document = api.get("/actuator/backups/openapi.json").json()
            assert document["security"] == [{"bearerAuth": []}]
            assert "401" in document["paths"]["/actuator/backups"]["post"]["responses"]
        assert (tmp_path / "store" / "manifests" / "1" / "1" / "0" / "manifest.json").is_file()


def test_backup_not_enabled_is_400(tmp_path: Path) -> None:
    with cli_server(tmp_path, "--store", "none", "--data-dir", str(tmp_path / "data")) as server, \
            client(server) as api:
        for response in (
            take(api, 1),
            api.get("/actuator/backups"),
            api.get("/actuator/backups/1"),
            api.delete("/actuator/backups/1"),
        ):
            assert "not enabled" in message(response, 400)
        assert api.get("/actuator/backups/openapi.json").status_code == 200
    assert not (tmp_path / "data").exists()


def test_backup_while_the_writer_appends_restores_exact_prefixes(tmp_path: Path) -> None:
    store, data = tmp_path / "store", tmp_path / "data"
    with cli_server(tmp_path, "--store", store.as_uri(), "--data-dir", str(data),
                    "--writer-interval", "0.005") as server, client(server) as api:
        segments = data / "1" / "segments"

        def size() -> int:
            return sum(p.stat().st_size for p in segments.iterdir())

        start = size()
        wait_until(lambda: size() > start, what="the writer to append")
        assert take(api, 100).status_code == 202
        body = wait_for_state(api, 100, "COMPLETED")
        positions = {d["partitionId"]: d["checkpointPosition"] for d in body["details"]}
        # The writer goes on after the checkpoint.
        wait_until(lambda: size() > positions[1], what="appends after the checkpoint")

        async def restore(partition: int) -> dict[str, Path]:
            async with open_store(store.as_uri()) as reader:
                backup = await reader.restore(
                    BackupIdentifier(0, partition, 100), tmp_path / f"restored-{partition}"
                )
            assert backup.descriptor.checkpoint_position == positions[partition]
            return {**backup.snapshot.paths, **backup.segments.paths}

        for partition in (1, 2):
            restored = asyncio.run(restore(partition))
            live = data / str(partition)
            restored_segments = {n: p for n, p in restored.items() if n.endswith(".log")}
            assert restored_segments
            assert sum(p.stat().st_size for p in restored_segments.values()) == (
                positions[partition]
            )
            grown = False
            for name, path in restored_segments.items():
                now = (live / "segments" / name).read_bytes()
                saved = path.read_bytes()
                assert now[: len(saved)] == saved, name
                grown = grown or len(now) > len(saved)
            assert grown, "no segment grew after the checkpoint"
            snapshot = next((live / "snapshots").iterdir())
            assert body["details"][partition - 1]["snapshotId"] == snapshot.name
            for file in snapshot.iterdir():
                assert restored[file.name].read_bytes() == file.read_bytes()


def test_data_dir_and_partitions_options(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = tmp_path / "store"
    with cli_server(tmp_path, "--store", store.as_uri(), "--data-dir", str(data),
                    "--partitions", "3", "--node-id", "4", "--no-writer") as server, \
            client(server) as api:
        assert sorted(p.name for p in data.iterdir() if p.is_dir()) == ["1", "2", "3"]
        assert take(api, 7).status_code == 202
        body = wait_for_state(api, 7, "COMPLETED")
        assert [(d["partitionId"], d["brokerId"]) for d in body["details"]] == [
            (1, 4), (2, 4), (3, 4)
        ]
        assert status_code(store, 3, 7, node=4) == "COMPLETED"
    shutil.rmtree(data / "3")
    (data / "notes").mkdir()
    # Partition 3's folder is gone but the cluster still has 3 partitions.
    with cli_server(tmp_path, "--store", store.as_uri(), "--data-dir", str(data),
                    "--partitions", "3", "--node-id", "4", name="two") as server, \
            client(server) as api:
        assert take(api, 8).status_code == 202
        body = wait_for_state(api, 8, "INCOMPLETE")
        assert body["details"][2] == {"partitionId": 3, "state": "DOES_NOT_EXIST"}


def test_post_requires_a_json_body(tmp_path: Path) -> None:
    with cli_server(tmp_path, "--store", (tmp_path / "store").as_uri(), "--data-dir",
                    str(tmp_path / "data"), "--no-writer") as server, client(server) as api:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
            response = api.post("/actuator/backups", content=b'{"backupId": 5}',
                                headers={"Content-Type": content_type})
            assert message(response, 400).startswith("A backupId must be provided")
        not_an_object = api.post("/actuator/backups", json=[])
        assert message(not_an_object, 400) == "A backupId must be provided and it must be > 0"
        assert take(api, 5).status_code == 202  # nothing was recorded by the refusals


def test_a_lower_id_than_another_nodes_backup_is_refused(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    one = cli_server(tmp_path, "--store", store, "--data-dir", str(tmp_path / "d0"),
                     "--node-id", "0", "--no-writer", name="node0")
    two = cli_server(tmp_path, "--store", store, "--data-dir", str(tmp_path / "d1"),
                     "--node-id", "1", "--no-writer", name="node1")
    with one, two, client(one) as api0, client(two) as api1:
        assert take(api0, 350).status_code == 202
        wait_for_state(api0, 350, "COMPLETED")
        assert message(take(api1, 320), 409) == (
            "Requested backup has ID 320. The latest backup has ID 350. The backup ID must be "
            "greater than the ID of previous backups that are completed, failed, or deleted."
        )
        assert take(api1, 350).status_code == 202  # the same id: this node's copy of it


def test_bearer_scheme_is_case_insensitive(tmp_path: Path) -> None:
    with cli_server(tmp_path, "--store", (tmp_path / "store").as_uri(), "--data-dir",
                    str(tmp_path / "data"), "--no-writer", "--token", "t0k3n") as server:
        with client(server, Authorization="bearer t0k3n") as api:
            assert api.get("/actuator/backups").status_code == 200
        with client(server, Authorization="Bearer T0K3N") as api:
            assert api.get("/actuator/backups").status_code == 401
