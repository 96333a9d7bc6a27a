"""`renewals worker`: one worker process; run as many as the load needs."""

import asyncio
import logging
import signal

from store.pool import open_pool
from workers.settings import Settings
from workers.temporal import build_worker, connect


async def run_worker(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings)
    async with open_pool(settings.require_database_url()) as pool:
        worker = build_worker(client, pool, settings)
        async with worker:
            logging.info("worker polling %s on %s", settings.temporal_task_queue, settings.temporal_address)
            await stop.wait()
            logging.info("worker stopping")
