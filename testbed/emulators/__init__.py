"""Storage emulators for tests: S3 (moto), Azure Blob (Azurite), GCS (fake-gcs-server).

Each emulator runs as local processes on 127.0.0.1 on free ports::

    with S3Emulator() as s3:
        bucket = s3.create_bucket()          # S3Bucket: name, config, client_options
        store = bucket.store()               # obstore S3Store for that bucket

Emulators are installed on first use (see :mod:`testbed.emulators.install`, or run
``python -m testbed.emulators install``); a missing emulator is an error, never a skip.
The pytest fixtures live in :mod:`testbed.emulators.fixtures`.
"""

from typing import Any

from testbed.emulators._base import BackendKind, EmulatedBucket, Emulator, unique_bucket_name
from testbed.emulators._process import EmulatorError, free_port
from testbed.emulators.azure import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    AzureContainer,
    AzureEmulator,
    shared_key_signature,
    signed_request,
)
from testbed.emulators.gcs import GcsBucket, GcsEmulator, service_account_key
from testbed.emulators.install import EmulatorInstallError, install_all
from testbed.emulators.s3 import (
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    S3Bucket,
    S3Emulator,
)

EMULATORS: dict[BackendKind, type[Emulator[Any]]] = {
    "s3": S3Emulator,
    "azure": AzureEmulator,
    "gcs": GcsEmulator,
}

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "EMULATORS",
    "S3_ACCESS_KEY_ID",
    "S3_REGION",
    "S3_SECRET_ACCESS_KEY",
    "AzureContainer",
    "AzureEmulator",
    "BackendKind",
    "EmulatedBucket",
    "Emulator",
    "EmulatorError",
    "EmulatorInstallError",
    "GcsBucket",
    "GcsEmulator",
    "S3Bucket",
    "S3Emulator",
    "free_port",
    "install_all",
    "service_account_key",
    "shared_key_signature",
    "signed_request",
    "unique_bucket_name",
]
