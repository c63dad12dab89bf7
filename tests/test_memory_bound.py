"""Peak memory does not grow with file or backup size (streamed, bounded transfers).

Each run happens in a fresh interpreter so that its peak RSS (``ru_maxrss``) speaks
only of that run: a backup several times larger than ``part_size x part_concurrency x
max_concurrency`` is saved and restored, and the peak may grow only by a fixed bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.emulators import S3Bucket
from tests.support.cloud_stores import s3_url

FILE_MIB = 96
FILES = 2
BOUND_MIB = 80  # far below the 192 MiB moved; above 5 MiB x 2 parts x 2 files of buffers

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, resource, sys
    from pathlib import Path
    from backup_store import (Backup, BackupDescriptor, BackupIdentifier, NamedFileSet,
                              open_store)

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def main(url: str, work: Path, file_mib: int, files: int) -> None:
        block = os.urandom(1024 * 1024)
        paths = {}
        for i in range(files):
            path = work / f"segment-{i}.log"
            with path.open("wb") as out:
                for n in range(file_mib):
                    out.write(block[n % 7:] + block[: n % 7])
            paths[path.name] = path
        small = work / "small"
        small.write_bytes(b"x")
        descriptor = BackupDescriptor(None, 1, 1, "8.7.0")
        async with open_store(url) as store:
            # Warm up the runtime (threads, connection pool) before measuring.
            warm = Backup(BackupIdentifier(0, 1, 1), descriptor,
                          segments=NamedFileSet({"s": small}))
            await store.save(warm)
            await store.restore(warm.id, work / "warm")
            baseline = peak_mib()
            big = Backup(BackupIdentifier(0, 1, 2), descriptor, segments=NamedFileSet(paths))
            await store.save(big)
            after_save = peak_mib()
            await store.restore(big.id, work / "restored")
            after_restore = peak_mib()
        same = all((work / "restored" / n).read_bytes() == p.read_bytes() for n, p in paths.items())
        print(json.dumps({"baseline": baseline, "save": after_save, "restore": after_restore,
                          "same": same}))

    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    """
)


def run_measured(url: str, work: Path) -> dict[str, float]:
    script = work / "measure.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), url, str(work), str(FILE_MIB), str(FILES)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def test_s3_save_and_restore_memory_is_bounded(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    url = (
        s3_url(s3_bucket)
        + "&compression=zstd&part_size=5242880&part_concurrency=2&max_concurrency=2"
    )
    measured = run_measured(url, tmp_path)
    assert measured["same"], "restored files differ"
    assert measured["save"] - measured["baseline"] < BOUND_MIB, measured
    assert measured["restore"] - measured["baseline"] < BOUND_MIB, measured


def test_filesystem_save_and_restore_memory_is_bounded(tmp_path: Path) -> None:
    measured = run_measured(f"file://{tmp_path}/store", tmp_path)
    assert measured["same"], "restored files differ"
    assert measured["save"] - measured["baseline"] < BOUND_MIB, measured
    assert measured["restore"] - measured["baseline"] < BOUND_MIB, measured
