"""ASGI apps served inside a process that runs other parts too (the dev stack, tests)."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """A server among several in one process: Ctrl-C is the stack's to handle, which stops them in order."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app, host: str, port: int) -> Callable[[], Awaitable[None]]:
    """Serve an ASGI app in this process, once it listens; returns the coroutine function that stops it."""
    # Its warnings through this process's logging (log_config=None), in the same lines as the rest.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", log_config=None)
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError(f"could not serve on {host}:{port}")
        await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)

    return stop
