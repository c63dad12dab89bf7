"""The worker process of a :class:`~backup_store.tools.analyze.contenders.ProcessContender`:
``python -m backup_store.tools.analyze.worker`` opens the store and answers JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from backup_store.errors import BackupStoreError
from backup_store.tools.analyze.contenders import WORKER_URL_VARIABLE, IOContender


async def _serve_worker() -> None:
    from backup_store.service.settings import choose_store

    opener = choose_store(os.environ.get(WORKER_URL_VARIABLE), default_directory=None).open
    if opener is None:
        raise BackupStoreError("backup is disabled: no store to analyze")
    store = opener()
    contender = IOContender(store.io)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        request = json.loads(line)
        try:
            if request["op"] == "create":
                result: Any = await contender.create(request["key"], bytes.fromhex(request["data"]))
            else:
                increments = await contender.increment(request["key"], int(request["times"]))
                result = [increments.done, increments.absent]
            answer = {"result": result}
        except BackupStoreError as error:
            answer = {"error": error.message}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_serve_worker())
