"""Helpers shared by the own small servers: a journaled asyncio TCP server bound to a checked address."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from icsaudit.lab.safety import require_loopback

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
IDLE_TIMEOUT = 30.0  # seconds a quiet client keeps its connection


async def serve_tcp(address: str, port: int, handler: Handler) -> None:
    """Serve ``handler`` on address:port until cancelled; every connection is closed on the way out."""
    open_handlers: set[asyncio.Task] = set()
    stopping = asyncio.Event()
    server = await asyncio.start_server(
        _guarded(handler, open_handlers, stopping),
        require_loopback(address, "bind address"),
        port,
        reuse_address=True,
    )
    try:
        async with server:
            await server.serve_forever()
    finally:
        # End the open connections here rather than leave their handlers to asyncio.run's final
        # cancel: Python 3.11's stream callback calls task.exception() on a cancelled handler and
        # logs the CancelledError as a traceback.
        stopping.set()
        for task in list(open_handlers):
            task.cancel()
        await asyncio.gather(*open_handlers, return_exceptions=True)


def _guarded(handler: Handler, open_handlers: set[asyncio.Task], stopping: asyncio.Event) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            open_handlers.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a client that goes away is normal
        except asyncio.CancelledError:
            if not stopping.is_set():
                raise
            # cancelled by serve_tcp on the way out: the task ends normally (see serve_tcp)
        finally:
            open_handlers.discard(task)  # type: ignore[arg-type]
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    return run


async def read_line(reader: asyncio.StreamReader, limit: int = 1024) -> bytes:
    """One CRLF/LF-terminated line (without terminator), or b"" at EOF; bounded by IDLE_TIMEOUT."""
    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
    return line[:limit].rstrip(b"\r\n")


def peer_of(writer: asyncio.StreamWriter) -> tuple[str, int]:
    peer = writer.get_extra_info("peername") or ("", 0)
    return str(peer[0]), int(peer[1])


async def forever() -> None:
    """Wait until cancelled (for devices whose library runs its own threads)."""
    await asyncio.Event().wait()
