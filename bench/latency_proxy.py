"""A TCP proxy that delays every byte by a fixed time each way: an emulator as far
away as a cloud store, for every client alike (ours, raw obstore, rclone, the SDKs).

``python -m bench.latency_proxy TARGET_PORT DELAY_MS [WINDOW_BYTES]``: prints the port
it listens on (127.0.0.1), then forwards each connection to 127.0.0.1:TARGET_PORT, each
piece of data leaving ``DELAY_MS`` / 2 after it arrived in either direction (a round
trip gains ``DELAY_MS``). At most ``WINDOW_BYTES`` (default :data:`WINDOW`) wait per
direction of a connection (a TCP window): the reader pauses while they do, as a sender
waits for acknowledgements, so one connection moves at most ``WINDOW_BYTES`` per
``DELAY_MS`` / 2 (4 MiB at 20 ms: 400 MiB/s, never the limit here; 1 MiB: 100 MiB/s,
about what one connection to a cloud store gets).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque

WINDOW = 4 * 1024 * 1024


async def pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, window: int
) -> None:
    loop = asyncio.get_running_loop()
    queue: deque[tuple[float, bytes]] = deque()
    waiting = asyncio.Event()
    room = asyncio.Event()
    room.set()
    held = 0
    done = False

    async def send() -> None:
        nonlocal held
        while True:
            while not queue:
                if done:
                    writer.close()
                    return
                waiting.clear()
                await waiting.wait()
            due, data = queue.popleft()
            if (pause := due - loop.time()) > 0:
                await asyncio.sleep(pause)
            writer.write(data)
            await writer.drain()
            held -= len(data)
            if held < window:
                room.set()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(256 * 1024):
            queue.append((loop.time() + delay, data))
            held += len(data)
            waiting.set()
            if held >= window:
                room.clear()
                await room.wait()
    except ConnectionError:
        pass
    finally:
        done = True
        waiting.set()
        with contextlib.suppress(ConnectionError):
            await sender


async def main(target_port: int, delay_ms: float, window: int = WINDOW) -> None:
    one_way = delay_ms / 2000

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            pump(reader, up_writer, one_way, window),
            pump(up_reader, writer, one_way, window),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connect, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    window = int(sys.argv[3]) if len(sys.argv) > 3 else WINDOW
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), window))
