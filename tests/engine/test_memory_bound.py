"""Peak memory does not grow with file or backup size (streamed, bounded transfers).

Each run happens in a fresh interpreter so that its peak RSS (``ru_maxrss``) speaks
only of that run: a backup several times larger than ``part_size x part_concurrency x
max_concurrency`` is saved and restored, and the peak may grow only by a fixed bound.
With the default settings, saving and restoring a 1 GiB backup (8 files of 128 MiB,
as many as are transferred at once) peaks below 150 MiB of RSS in all (the 4 GiB case
runs in the benchmark, ``make bench``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from testbed.cloud_stores import s3_url
from testbed.emulators import S3Bucket

FILE_MIB = 96
FILES = 2
BOUND_MIB = 80  # far below the 192 MiB moved; above 5 MiB x 2 parts x 2 files of buffers
DEFAULTS_PEAK_MIB = 150  # whole process, default settings, 1 GiB backup

SCRIPT = textwrap.dedent(
    """
    import asyncio, hashlib, json, os, sys
    from pathlib import Path
    from backup_store import (Backup, BackupDescriptor, BackupIdentifier, NamedFileSet,
                              open_store)

    def peak_mib() -> float:
        # VmHWM, not ru_maxrss: Linux carries the parent's RSS at (v)fork into the
        # child's ru_maxrss, so a large parent (pytest) would be measured instead.
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

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
        def sha(path: Path) -> str:
            with path.open("rb") as file:
                return hashlib.file_digest(file, "sha256").hexdigest()

        same = all(sha(work / "restored" / n) == sha(p) for n, p in paths.items())
        print(json.dumps({"baseline": baseline, "save": after_save, "restore": after_restore,
                          "same": same}))

    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    """
)


def run_measured(
    url: str, work: Path, file_mib: int = FILE_MIB, files: int = FILES
) -> dict[str, float]:
    script = work / "measure.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), url, str(work), str(file_mib), str(files)],
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


def test_s3_defaults_stay_under_150_mib_for_a_1_gib_backup(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    measured = run_measured(s3_url(s3_bucket), tmp_path, file_mib=128, files=8)
    assert measured["same"], "restored files differ"
    assert measured["save"] < DEFAULTS_PEAK_MIB, measured
    assert measured["restore"] < DEFAULTS_PEAK_MIB, measured


def test_filesystem_defaults_stay_under_150_mib_for_a_1_gib_backup(tmp_path: Path) -> None:
    measured = run_measured(f"file://{tmp_path}/store", tmp_path, file_mib=128, files=8)
    assert measured["same"], "restored files differ"
    assert measured["save"] < DEFAULTS_PEAK_MIB, measured
    assert measured["restore"] < DEFAULTS_PEAK_MIB, measured
