"""S3: moto's standalone server (``python -m moto.server``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import httpx

from testbed.emulators._base import Emulator, LocalBucket, check_created, unique_bucket_name
from testbed.emulators._process import free_port, http_responds
from testbed.emulators.install import ensure_python_packages

if TYPE_CHECKING:
    from obstore.store import S3Config

S3_REGION = "us-east-1"
S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"


@dataclass(frozen=True)
class S3Bucket(LocalBucket):
    """A fresh bucket in the moto server.

    ``config`` holds the obstore ``S3Store`` config keys: ``bucket``, ``endpoint``,
    ``region``, ``access_key_id``, ``secret_access_key``,
    ``virtual_hosted_style_request=False``; ``client_options`` is ``{"allow_http": True}``.
    """

    name: str
    endpoint: str
    kind: Literal["s3"] = field(default="s3", init=False)
    store_type = "S3Store"

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    @property
    def config(self) -> S3Config:
        return {
            "bucket": self.name,
            "endpoint": self.endpoint,
            "region": S3_REGION,
            "access_key_id": S3_ACCESS_KEY_ID,
            "secret_access_key": S3_SECRET_ACCESS_KEY,
            "virtual_hosted_style_request": False,
        }


class S3Emulator(Emulator[S3Bucket]):
    """moto's S3 server (``moto[server]`` from the test extras) on a free local port."""

    kind = "s3"

    def _install(self) -> None:
        ensure_python_packages()

    def _launch(self) -> str:
        port = free_port(self.host)
        endpoint = f"http://{self.host}:{port}"
        proc = self._spawn(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(port)],
        )
        proc.wait_ready(lambda: http_responds(f"{endpoint}/"), timeout=self.startup_timeout)
        return endpoint

    def create_bucket(self, name: str | None = None) -> S3Bucket:
        """Create a bucket with a plain ``PUT /<bucket>`` (moto does not check signatures)."""
        name = name or unique_bucket_name()
        response = httpx.put(f"{self.endpoint}/{name}", timeout=30.0, trust_env=False)
        check_created(response, 200, f"moto bucket {name!r}")
        return S3Bucket(name=name, endpoint=self.endpoint)
