"""``python -m testbed.emulators install [--force]`` | ``python -m testbed.emulators serve``.

``install`` installs every emulator (idempotent; what the Makefile calls).
``serve`` starts all three emulators, prints how to reach them, and runs until Ctrl-C:
handy to poke at them by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from testbed.emulators import AzureEmulator, GcsEmulator, S3Emulator, install_all


def _serve() -> None:
    s3, azure, gcs = S3Emulator(), AzureEmulator(), GcsEmulator()
    emulators = (s3, azure, gcs)
    try:
        for emulator in emulators:
            emulator.start()
        print(f"S3 (moto):              {s3.endpoint}  region us-east-1, keys testing/testing")
        print(f"Azure (Azurite):        {azure.account_url}  account devstoreaccount1")
        print(f"GCS (adapter):          {gcs.endpoint}  (fake-gcs-server: {gcs.emulator_url})")
        print("Ctrl-C to stop.", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    finally:
        for emulator in emulators:
            emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.emulators")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install all emulators (moto, Azurite, fake-gcs)")
    install.add_argument("--force", action="store_true", help="reinstall Azurite")
    sub.add_parser("serve", help="run all emulators until Ctrl-C")
    args = parser.parse_args(argv)
    if args.command == "install":
        install_all(force=args.force)
        print("emulators installed")
    else:
        _serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
