"""The management API's rows, against one real ``backup-store serve`` process.

Every test takes fresh, increasing backup ids (the server refuses an id not
greater than the latest one), so the tests share one server and stay fast.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api_server import ServerProcess, cli_server, client, wait_for_state

INVALID = "A backupId must be provided and it must be > 0"
_ids = itertools.count(1000, 10)


def next_id() -> int:
    return next(_ids)


def conflict(requested: int, latest: int) -> dict[str, str]:
    return {
        "message": f"Requested backup has ID {requested}. The latest backup has ID {latest}. "
        "The backup ID must be greater than the ID of previous backups that are completed, "
        "failed, or deleted."
    }


def scheduled(backup_id: int) -> dict[str, str]:
    return {
        "message": f"A backup with id {backup_id} has been scheduled. Use GET "
        f"actuator/backups/{backup_id} to monitor the status."
    }


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def server(dirs: Path) -> Iterator[ServerProcess]:
    process = cli_server(
        dirs, "--store", (dirs / "store").as_uri(), "--data-dir", str(dirs / "data")
    )
    with process:
        yield process


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as http:
        yield http


def take(api: httpx.Client, backup_id: int | str) -> httpx.Response:
    return api.post("/actuator/backups", json={"backupId": backup_id})


def is_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"message"} and isinstance(body["message"], str)
    assert "Traceback" not in body["message"]
    return body


def manifest(dirs: Path, partition: int, backup_id: int, node: int = 0) -> dict[str, Any]:
    path = dirs / "store" / "manifests" / str(partition) / str(backup_id) / str(node)
    document: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    return document


# ---------------------------------------------------------------- POST


def test_string_id_is_scheduled_and_completes(api: httpx.Client, dirs: Path) -> None:
    backup_id = next_id()
    response = take(api, str(backup_id))
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == scheduled(backup_id)

    body = wait_for_state(api, backup_id, "COMPLETED")
    assert list(body) == ["backupId", "state", "details"]
    assert body["backupId"] == backup_id
    assert [d["partitionId"] for d in body["details"]] == [1, 2]
    for detail in body["details"]:
        stored = manifest(dirs, detail["partitionId"], backup_id)
        assert detail == {
            "partitionId": detail["partitionId"],
            "state": "COMPLETED",
            "createdAt": stored["createdAt"],
            "lastUpdatedAt": stored["modifiedAt"],
            "snapshotId": stored["descriptor"]["snapshotId"],
            "checkpointPosition": stored["descriptor"]["checkpointPosition"],
            "brokerId": 0,
            "brokerVersion": "8.7.0",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3,9})?Z", detail["createdAt"])
        assert stored["descriptor"]["numberOfPartitions"] == 2


def test_integer_id_is_scheduled(api: httpx.Client) -> None:
    backup_id = next_id()
    response = take(api, backup_id)
    assert response.status_code == 202 and response.json() == scheduled(backup_id)
    wait_for_state(api, backup_id, "COMPLETED")


def test_id_equal_to_or_lower_than_the_latest_is_a_conflict(api: httpx.Client) -> None:
    backup_id = next_id()
    assert take(api, backup_id).status_code == 202
    assert is_error(take(api, backup_id), 409) == conflict(backup_id, backup_id)
    assert is_error(take(api, str(backup_id - 1)), 409) == conflict(backup_id - 1, backup_id)
    assert is_error(take(api, 1), 409) == conflict(1, backup_id)
    # A refused id records nothing: the next id is still accepted.
    assert take(api, backup_id + 1).status_code == 202
    next_id()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"backupId": None},
        {"backupId": 0},
        {"backupId": -1},
        {"backupId": "0"},
        {"backupId": "-5"},
        {"backupId": "abc"},
        {"backupId": ""},
        {"backupId": " 100"},
        {"backupId": "1e3"},
        {"backupId": 1.5},
        {"backupId": 100.0},
        {"backupId": True},
        {"backupId": [100]},
        {"backupId": {"id": 100}},
        {"backupId": 2**63},
        {"backupId": str(2**63)},
        {"id": 100},
    ],
    ids=repr,
)
def test_invalid_ids_are_refused(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/actuator/backups", content=json.dumps(body),
                        headers={"content-type": "application/json"})
    assert is_error(response, 400) == {"message": INVALID}


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[1]", b'"100"', b"100", b"backupId=100", b"\xff\xfe", b"null"],
    ids=repr,
)
def test_malformed_bodies_are_refused(api: httpx.Client, content: bytes) -> None:
    response = api.post("/actuator/backups", content=content,
                        headers={"content-type": "application/json"})
    assert is_error(response, 400)["message"].startswith(INVALID)


# ---------------------------------------------------------------- GET one


def test_unknown_backup_is_404(api: httpx.Client) -> None:
    assert is_error(api.get("/actuator/backups/7"), 404) == {
        "message": "Backup with id 7 does not exist"
    }


@pytest.mark.parametrize(
    "text",
    ["abc", "0", "-1", "1.5", "00", "9223372036854775808", "1*0", "%20", "1,2", "a/b", "1%0A",
     "%0A", "1%00"],
)
def test_get_with_an_invalid_id_is_400(api: httpx.Client, text: str) -> None:
    body = is_error(api.get(f"/actuator/backups/{text}"), 400)
    assert body["message"].startswith(INVALID)


# ---------------------------------------------------------------- list


def test_list_is_highest_id_first_with_short_details(api: httpx.Client) -> None:
    first, second = next_id(), next_id()
    for backup_id in (first, second):
        assert take(api, backup_id).status_code == 202
        wait_for_state(api, backup_id, "COMPLETED")
    response = api.get("/actuator/backups")
    assert response.status_code == 200
    listed = response.json()
    ids = [info["backupId"] for info in listed]
    assert ids == sorted(ids, reverse=True)
    assert ids.index(second) < ids.index(first)
    info = next(i for i in listed if i["backupId"] == second)
    assert info["state"] == "COMPLETED"
    for detail in info["details"]:
        assert list(detail) == ["partitionId", "state", "createdAt", "brokerVersion"]
    assert api.get("/actuator/backups/").json() == api.get("/actuator/backups").json()


# ---------------------------------------------------------------- DELETE


def test_delete_then_the_id_stays_used(api: httpx.Client, dirs: Path) -> None:
    backup_id = next_id()
    assert take(api, backup_id).status_code == 202
    wait_for_state(api, backup_id, "COMPLETED")
    response = api.delete(f"/actuator/backups/{backup_id}")
    assert response.status_code == 204 and response.content == b""
    assert is_error(api.get(f"/actuator/backups/{backup_id}"), 404)
    assert is_error(take(api, backup_id), 409) == conflict(backup_id, backup_id)
    for partition in (1, 2):
        assert not (dirs / "store" / "manifests" / str(partition) / str(backup_id)).exists()
        assert not (dirs / "store" / "contents" / str(partition) / str(backup_id)).exists()
    assert api.delete(f"/actuator/backups/{backup_id}").status_code == 204


def test_delete_of_a_missing_backup_is_204(api: httpx.Client) -> None:
    assert api.delete("/actuator/backups/3").status_code == 204


@pytest.mark.parametrize("text", ["abc", "0", "10*", "*", "9223372036854775808"])
def test_delete_with_an_invalid_id_is_400(api: httpx.Client, text: str) -> None:
    assert is_error(api.delete(f"/actuator/backups/{text}"), 400)["message"].startswith(INVALID)


# ---------------------------------------------------------------- routes and document


@pytest.mark.parametrize("path", ["/", "/actuator", "/actuator/backup", "/actuator/backupsx"])
def test_unknown_routes_are_json_404(api: httpx.Client, path: str) -> None:
    assert "No such resource" in is_error(api.get(path), 404)["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/actuator/backups", "GET, HEAD, POST"),
        ("PATCH", "/actuator/backups", "GET, HEAD, POST"),
        ("DELETE", "/actuator/backups", "GET, HEAD, POST"),
        ("POST", "/actuator/backups/100", "DELETE, GET, HEAD"),
        ("PUT", "/actuator/backups/100", "DELETE, GET, HEAD"),
        ("POST", "/actuator/backups/openapi.json", "GET, HEAD"),
    ],
)
def test_wrong_methods_are_json_405(
    api: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path)
    assert is_error(response, 405)["message"].startswith(f"Method {method} is not allowed")
    assert sorted(response.headers["allow"].split(", ")) == allowed.split(", ")


def test_openapi_document(api: httpx.Client) -> None:
    response = api.get("/actuator/backups/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    actuator = {path for path in paths if path.startswith("/actuator/")}
    assert actuator == {"/actuator/backups", "/actuator/backups/{backupId}"}
    assert "/v2/backups/runtime" in paths  # beside it (tests/api/test_runtime_v2.py)
    assert set(paths["/actuator/backups"]) == {"post", "get"}
    assert set(paths["/actuator/backups/{backupId}"]) == {"get", "delete"}
    post = paths["/actuator/backups"]["post"]["responses"]
    assert {"202", "400", "409", "500", "502", "504"} <= set(post)
    assert "security" not in document
