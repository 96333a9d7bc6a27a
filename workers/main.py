"""`renewals worker`: one worker process; run as many as the load needs, on one task queue."""

import asyncio
import logging
import signal

from runtime.app import open_app
from runtime.client import connect, logged_runtime, metrics_runtime
from runtime.logs import configure_logging
from runtime.schedules import ensure_retention_schedule
from runtime.settings import Settings
from runtime.temporal import build_worker, stop_worker

log = logging.getLogger("renewals.worker")


async def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.renewals_log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A worker needs a connected client (a lazy one is refused), with the metrics runtime.
    client = await connect(settings, metrics_runtime(settings) or logged_runtime())
    async with open_app(settings, client=client) as app:
        await ensure_retention_schedule(app.client, settings.temporal_task_queue)
        worker = build_worker(app.client, app.pool, settings, app.gateway)
        running = asyncio.create_task(worker.run())
        log.info(
            "polling task_queue=%s address=%s namespace=%s metrics_port=%s",
            ",".join(w.task_queue for w in worker.workers.values()),
            settings.temporal_address,
            settings.temporal_namespace,
            settings.metrics_port,
        )
        done, _ = await asyncio.wait({asyncio.create_task(stop.wait()), running}, return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            running.result()  # a worker that failed fails the command
        log.info("stopping: no new tasks; in-flight activities get %.0fs", settings.worker_shutdown_grace)
        await stop_worker(worker, running, settings.worker_shutdown_grace)
    log.info("stopped")
