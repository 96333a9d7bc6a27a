"""`python -m tests.faults.killable_worker ACTIVITY MARKER`: the real worker (settings from the environment,
as `renewals worker`), which kills itself with SIGKILL right after ACTIVITY first completes, before its
result reaches the workflow: a worker that dies between two steps of the payment saga. MARKER is written
first, so it dies once."""

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from runtime.client import connect
from runtime.settings import Settings
from runtime.temporal import build_worker
from store.pool import open_pool


class KillAfter(Interceptor):
    def __init__(self, name: str, marker: Path) -> None:
        self.name, self.marker = name, marker

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Kill(next, self)


class _Kill(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, kill: KillAfter) -> None:
        super().__init__(next)
        self.kill = kill

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().activity_type == self.kill.name and not self.kill.marker.exists():
            self.kill.marker.write_text(activity.info().workflow_id)
            os.kill(os.getpid(), signal.SIGKILL)
        return result


async def main(name: str, marker: Path) -> None:
    settings = Settings.load()
    async with open_pool(settings.require_database_url()) as pool:
        client = await connect(settings)
        await build_worker(client, pool, settings, interceptors=[KillAfter(name, marker)]).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
