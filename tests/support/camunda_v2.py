"""Camunda's 8.10 ``backups.yaml`` as data: checks a ``/v2`` response against the schemas.

The three YAML files under ``tests/api/camunda_v2/`` are Camunda's own (see the README
there); nothing of their shapes is copied here. OpenAPI 3.0's ``nullable: true`` is
read as Camunda's generated models read it, "``null``, or what the rest says" (also
beside an ``allOf``), and the formats ``date-time``, ``int32`` and ``int64`` are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import httpx
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

FOLDER = Path(__file__).parents[1] / "api" / "camunda_v2"
BASE = "https://camunda.invalid/v2/"
"""Where the files are pretended to live, so that their relative ``$ref`` resolve."""
SERVER_PREFIX = "/v2"
RUNTIME = "/backups/runtime"


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


def _formats() -> FormatChecker:
    checker = FormatChecker()
    for name, bits in (("int32", 32), ("int64", 64)):
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        checker.checks(name)(
            lambda value, low=low, high=high: not isinstance(value, int) or low <= value <= high
        )
    return checker


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class CamundaV2:
    """The backup API of ``backups.yaml``; :meth:`check` validates one response.

    ``seen`` collects ``(operationId, status)`` of every checked response.
    """

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        for path in sorted(FOLDER.glob("*.yaml")):
            self.documents[BASE + path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.registry: Registry[Any] = Registry().with_resources(
            (uri, DRAFT202012.create_resource(_nullable(doc)))
            for uri, doc in self.documents.items()
        )
        self.backups = self.documents[BASE + "backups.yaml"]
        self.formats = _formats()
        self.seen: set[tuple[str, int]] = set()

    def operations(self, prefix: str = RUNTIME) -> dict[str, tuple[str, str]]:
        """``operationId`` -> (method, path template) of the paths under ``prefix``."""
        return {
            operation["operationId"]: (method.upper(), path)
            for path, item in self.backups["paths"].items()
            if path == prefix or path.startswith(prefix + "/")
            for method, operation in item.items()
        }

    def _resolve(self, uri: str, node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Follow a response's ``$ref`` (to common-responses.yaml, say): its full URI and body."""
        while "$ref" in node:
            uri = urljoin(uri, node["$ref"])
            document, fragment = urldefrag(uri)
            node = self.documents[document]
            for part in fragment.strip("/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return uri, node

    def validate(self, instance: Any, schema_uri: str) -> None:
        """Validate ``instance`` against the schema at ``schema_uri`` (raises when invalid)."""
        validator = Draft202012Validator(
            {"$ref": schema_uri}, registry=self.registry, format_checker=self.formats
        )
        validator.validate(instance)

    def check(
        self, response: httpx.Response, operation_id: str, *, undocumented_as: str | None = None
    ) -> Any:
        """Assert that ``response`` is one ``backups.yaml`` documents for ``operation_id``:
        a documented status, its media type, a body valid against its schema. Returns
        the body (parsed JSON, or None).

        ``undocumented_as`` names a response of ``common-responses.yaml`` to check a
        status against that the operation does not list (Camunda's gateway answers a
        malformed path id 400 on every operation, documented or not).
        """
        method, path = self.operations("/backups")[operation_id]
        status = str(response.status_code)
        responses = self.backups["paths"][path][method.lower()]["responses"]
        location = BASE + "backups.yaml#" + _pointer("paths", path, method.lower(), "responses")
        if status in responses:
            uri, documented = self._resolve(location + _pointer(status), responses[status])
        else:
            assert undocumented_as is not None, (
                f"{operation_id}: status {status} is not documented ({sorted(responses)}): "
                f"{response.text}"
            )
            common = f"{BASE}common-responses.yaml#/components/responses/{undocumented_as}"
            uri, documented = self._resolve(common, {"$ref": common})
        self.seen.add((operation_id, response.status_code))
        content = documented.get("content")
        if not content:
            assert response.content == b"", f"{operation_id} {status}: {response.text}"
            return None
        media_type = response.headers["content-type"].split(";")[0].strip()
        assert media_type in content, f"{operation_id} {status}: {media_type} not in {content}"
        body = response.json()
        self.validate(body, uri + _pointer("content", media_type, "schema"))
        return body

    def schema(self, name: str, document: str = "backups.yaml") -> str:
        """The URI of a component schema, for :meth:`validate`."""
        return f"{BASE}{document}#/components/schemas/{name}"
