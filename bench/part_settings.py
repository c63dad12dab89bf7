"""Part size and parts in flight per file, measured: what chose the defaults.

For each backend (S3 on moto, Azure on Azurite, GCS on fake-gcs-server through the
test adapter) and each network (:data:`NETWORKS`: 0 ms; 20 ms round trip behind
:mod:`bench.latency_proxy`; 20 ms with a 1 MiB window per direction, which holds one
connection to 100 MiB/s as a cloud store's does), our save and restore of 2 x 128 MiB
with each candidate ``(part_size, part_concurrency)`` of :data:`CANDIDATES`,
interleaved: every round
runs each candidate once, in an order rotated from round to round. Reported per
candidate: seconds (median and min-max) and MB/s of the median, with the load.

Every candidate fits the store's default memory budget (64 MiB), which decides how
many large files move at once: ``(part_concurrency + 1) x part_size`` each.

``python -m bench.part_settings [--only s3,azure,gcs] [--networks '0 ms;20 ms'] [--rounds 3]``;
results go to the ``part settings`` section of ``bench/results/latest.json`` (a
failed save or restore is counted there and the run goes on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backup_store import ObjectBackupStore
from bench.__main__ import MIB, Backups, load, make_files, timed
from bench.transfers import STORES, proxied
from testbed import emulators as emulated

CANDIDATES: tuple[tuple[int, int], ...] = ((8, 3), (8, 1), (8, 7), (16, 3), (5, 5))
"""(part size in MiB, parts in flight per file); (8, 3) are the defaults."""
NETWORKS: dict[str, tuple[int, int | None]] = {
    "0 ms": (0, None), "20 ms": (20, None), "20 ms, 1 MiB window": (20, MIB),
}  # fmt: skip
"""Round trip in ms and bytes in flight per direction of a connection (None: 4 MiB)."""


def label(candidate: tuple[int, int]) -> str:
    return f"{candidate[0]} MiB x {candidate[1]}"


async def measure(
    kind: str, make_bucket: Callable[[], Any], network: str, paths: list[Path], work: Path,
    rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """Save and restore with every candidate, ``rounds`` interleaved rounds."""
    delay, window = NETWORKS[network]
    mb = sum(p.stat().st_size for p in paths) / 1e6
    results: dict[str, Any] = {"load_before": load()}
    with contextlib.ExitStack() as stack:
        backups: dict[tuple[int, int], Backups] = {}
        for candidate in CANDIDATES:
            bucket = proxied(kind, make_bucket(), delay, stack, window)
            part_size, part_concurrency = candidate
            store: ObjectBackupStore = STORES[kind](
                bucket, part_size=part_size * MIB, part_concurrency=part_concurrency
            )
            store.incremental = False  # every save sends every byte
            folder = work / label(candidate).replace(" ", "")
            backups[candidate] = Backups(store, paths, folder)
            await backups[candidate].save()  # kept for the restores
        times: dict[str, dict[tuple[int, int], list[float]]] = {"save": {}, "restore": {}}
        for round_ in range(rounds):
            order = CANDIDATES[round_ % len(CANDIDATES) :] + CANDIDATES[: round_ % len(CANDIDATES)]
            for op in ("save", "restore"):
                for candidate in order:
                    of = backups[candidate]
                    restored = of.work / "restored"
                    action = of.save if op == "save" else of.restore

                    async def cleanup(of: Backups = of, restored: Path = restored) -> None:
                        await of.reset(restored)

                    try:
                        seconds, _cpu = await timed(action, cleanup, resource.RUSAGE_SELF)
                    except Exception as error:  # a finding: counted, said, and the run goes on
                        failed = results.setdefault("failures", [])
                        failed.append(f"{op} {label(candidate)}: {type(error).__name__} {error}")
                        print(f"  FAILED {op} {label(candidate)}: {failed[-1][:300]}", flush=True)
                        await cleanup()
                        continue
                    times[op].setdefault(candidate, []).append(seconds)
            print(f"    {kind} {network} round {round_ + 1} done  ({load()})", flush=True)
        for op, found in times.items():
            results[op] = {
                label(c): {
                    "seconds_median": round(statistics.median(s), 2),
                    "seconds_min": round(min(s), 2),
                    "seconds_max": round(max(s), 2),
                    "mb_s": round(mb / statistics.median(s), 1),
                }
                for c, s in found.items()
            }
            best = min(found, key=lambda c: statistics.median(found[c]))
            results[op]["fastest"] = label(best)
            for c, s in found.items():
                print(
                    f"  {kind:<5} {network:<20} {op:<7} {label(c):<12} "
                    f"{statistics.median(s):6.2f} s ({min(s):.2f}-{max(s):.2f}) "
                    f"{mb / statistics.median(s):7.1f} MB/s",
                    flush=True,
                )
    results["load_after"] = load()
    print(f"  {kind} {network}: {load()}", flush=True)
    return results


async def main(
    kinds: list[str], networks: list[str], rounds: int, save: Callable[[dict[str, Any]], None]
) -> None:
    emulator_types: dict[str, Any] = {
        "s3": emulated.S3Emulator, "azure": emulated.AzureEmulator, "gcs": emulated.GcsEmulator,
    }  # fmt: skip
    results: dict[str, Any] = {"rounds": rounds, "load_start": load()}
    print(f"part settings, {rounds} rounds; {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
        work = Path(tmp)
        paths = make_files(work / "big", (128, 128))
        for kind in kinds:
            with emulator_types[kind]() as emulator:
                for network in networks:
                    name = f"{kind} 2 x 128 MiB {network}"
                    folder = work / name.replace(" ", "-").replace(",", "")
                    results[name] = await measure(
                        kind, emulator.create_bucket, network, paths, folder, rounds
                    )
                    save(results)
                    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="s3,azure,gcs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--networks", default=";".join(NETWORKS), help="of NETWORKS, by ';'")
    arguments = parser.parse_args()
    out = Path(__file__).parent / "results" / "latest.json"

    def save(found: dict[str, Any]) -> None:
        existing = json.loads(out.read_text()) if out.exists() else {}
        existing.setdefault("part settings", {}).update(found)
        out.write_text(json.dumps(existing, indent=2) + "\n")

    networks = arguments.networks.split(";")
    asyncio.run(main(arguments.only.split(","), networks, arguments.rounds, save))
