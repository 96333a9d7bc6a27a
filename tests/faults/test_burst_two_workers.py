"""docs/scaling.md: two `renewals worker` processes on one task queue share a midnight burst; one is killed with
SIGKILL in the middle of it. The other finishes the burst: every term renews exactly once, and the audit
(calendars included) is clean."""

import asyncio
import signal
import subprocess
import uuid
from datetime import date

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import DataFile
from services.subscriptions import SubscriptionService
from tests.helpers import BIN, audit, scalar, worker_env
from workers.demo_data import price_book, renewable_subscriptions

pytestmark = pytest.mark.asyncio(loop_scope="session")
TERMS = 200


def burst(run: str, csn: str) -> DataFile:
    """TERMS subscriptions that ended yesterday with auto-renew on: each calendar renews at once (R01)."""
    return DataFile.model_validate(
        {
            "customers": [{"csn": csn, "name": f"Burst {run}", "email": f"buyer@{run}.example", "address": "Weg 1"}],
            "subscriptions": renewable_subscriptions(f"K{run}", csn, TERMS, date.today(), ends_in=-1),
            "prices": price_book(),
        }
    )


async def renewed(pool, csn: str) -> int:
    return await scalar(
        pool,
        "SELECT count(*) FROM renewals r JOIN subscriptions s ON s.id = r.subscription_id WHERE s.csn = %s",
        csn,
    )


async def test_r01_a_worker_killed_mid_burst_leaves_every_renewal_done_once(
    dev_env: WorkflowEnvironment, pool, settings, tmp_path
) -> None:
    run = uuid.uuid4().hex[:6]
    csn = f"57{int(run, 16) % 10**8:08d}"
    env = worker_env(dev_env.client, settings, tmp_path / "var")
    workers = [
        subprocess.Popen(
            [str(BIN / "renewals"), "worker"],
            env=env,
            stdout=(tmp_path / f"worker{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    try:
        await SubscriptionService(dev_env.client, pool, settings.temporal_task_queue).load(burst(run, csn))
        for _ in range(600):  # killed once the burst is under way, well before it is done
            if await renewed(pool, csn) >= TERMS // 10:
                break
            await asyncio.sleep(0.05)
        done_at_kill = await renewed(pool, csn)
        workers[0].send_signal(signal.SIGKILL)
        assert done_at_kill < TERMS, "the burst ended before the kill: nothing was proved"
        for _ in range(1200):
            if await renewed(pool, csn) >= TERMS:
                break
            await asyncio.sleep(0.25)
        assert await renewed(pool, csn) == TERMS
        once = "SELECT count(*) FROM (SELECT subscription_id FROM renewals GROUP BY 1 HAVING count(*) > 1) twice"
        assert await scalar(pool, once) == 0
        moved = "SELECT count(*) FROM subscriptions WHERE csn = %s AND end_date > current_date + 300"
        assert await scalar(pool, moved, csn) == TERMS
        await audit(dev_env, pool, calendars=True)
        assert workers[0].wait(5) == -signal.SIGKILL
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
