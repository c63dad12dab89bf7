"""Reproducer for the exit-code-134 abort after obstore async reads (see exit_guard).

    python -m testbed.exit_abort_repro --runs 40 --scenario full --guard none
    python -m testbed.exit_abort_repro --runs 40 --scenario full --guard atexit

Starts moto, stores an 8 MiB object, then runs ``--runs`` child interpreters that read it
with ``obstore.get_async`` + ``stream()`` and exit, and counts their exit codes
(-6 = SIGABRT = shell exit code 134). Scenarios: ``full`` (every stream read to the end),
``partial`` (streams abandoned after one chunk), ``gather`` (20 concurrent reads),
``abandoned`` (futures never awaited), ``sync`` (sync API, for comparison). Guards: ``none``,
``atexit`` (:func:`exit_guard.install`), ``os_exit`` (flush, then ``os._exit(0)``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCENARIOS = ("full", "partial", "gather", "abandoned", "sync")
GUARDS = ("none", "atexit", "os_exit")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_KEEP: list[Any] = []  # keeps abandoned streams/futures alive until exit


async def _scenario(store: Any, name: str) -> None:
    import obstore

    async def read_all() -> None:
        result = await obstore.get_async(store, "obj")
        async for _chunk in result.stream(min_chunk_size=64 * 1024):
            pass

    if name == "full":
        for _ in range(5):
            await read_all()
    elif name == "partial":
        for _ in range(5):
            result = await obstore.get_async(store, "obj")
            stream = result.stream(min_chunk_size=64 * 1024)
            async for _chunk in stream:
                break
            _KEEP.append((result, stream))
    elif name == "gather":
        await asyncio.gather(*(read_all() for _ in range(20)))
    elif name == "abandoned":
        _KEEP.extend(asyncio.ensure_future(obstore.get_async(store, "obj")) for _ in range(10))
        await read_all()
    elif name == "sync":
        for _ in range(5):
            for _chunk in obstore.get(store, "obj").stream(min_chunk_size=64 * 1024):
                pass


def _child(endpoint: str, scenario: str, guard: str) -> None:
    from obstore.store import S3Store

    if guard == "atexit":
        from backup_store import exit_guard

        exit_guard.install()
    store = S3Store(
        "repro",
        endpoint=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    asyncio.run(_scenario(store, scenario))
    if guard == "os_exit":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.exit_abort_repro")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--scenario", choices=SCENARIOS, default="full")
    parser.add_argument("--guard", choices=GUARDS, default="none")
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.scenario, args.guard)
        return 0

    import obstore

    from testbed.emulators import S3Emulator

    with S3Emulator() as s3:
        bucket = s3.create_bucket("repro")
        obstore.put(bucket.store(), "obj", os.urandom(8 * 1024 * 1024), use_multipart=False)
        codes: collections.Counter[int] = collections.Counter()
        cmd = [sys.executable, "-m", "testbed.exit_abort_repro", "--child", s3.endpoint]
        cmd += ["--scenario", args.scenario, "--guard", args.guard]
        for _ in range(args.runs):
            child = subprocess.run(cmd, capture_output=True, check=False, cwd=_PROJECT_ROOT)
            codes[child.returncode] += 1
    print(f"scenario={args.scenario} guard={args.guard} exit codes: {dict(codes)}")
    return 1 if set(codes) - {0} else 0


if __name__ == "__main__":
    sys.exit(main())
