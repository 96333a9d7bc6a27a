"""Three real `renewals worker` processes on the dev server, 200 quotes, one worker killed with SIGKILL
while they run: every quote still reaches its end state, each email goes out once, each renewal once."""

import asyncio
import signal
import subprocess
import uuid
from datetime import date

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import DataFile
from domain.quote_rules import QuoteRequest
from services.quotes import QuoteService
from store.loader import load
from tests.helpers import BIN, audit, rows, scalar, worker_env
from workers.demo_data import ACME, demo_data, price_book, renewable_subscriptions

pytestmark = pytest.mark.asyncio(loop_scope="session")
QUOTES = 200
EXPECTED = {"paid": 50, "cancelled": 50, "accepted": 50, "sent": 50}


def two_hundred_subscriptions(run: str) -> DataFile:
    today = date.today()
    demo = demo_data(today)
    return DataFile.model_validate(
        {
            "customers": [c.model_dump(mode="json") for c in demo.customers if c.csn == ACME],
            "subscriptions": renewable_subscriptions(f"S{run}", ACME, QUOTES, today),
            "prices": price_book(),
        }
    )


async def drive(quotes: QuoteService, sub_id: str, i: int) -> None:
    quote = await quotes.create(
        QuoteRequest(csn=ACME, subscription_ids=[sub_id], pause_auto_renew=i % 8 == 0), send=True
    )
    if i % 4 == 0:
        await quotes.accept(quote.number, pay=True)
    elif i % 4 == 1:
        await quotes.cancel(quote.number, "sales")
    elif i % 4 == 2:
        await quotes.accept(quote.number)


async def test_scale_out_survives_a_killed_worker(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, tmp_path
) -> None:
    run = uuid.uuid4().hex[:6]
    async with pool.connection() as conn:
        await load(conn, two_hundred_subscriptions(run))
    env = worker_env(dev_env.client, settings, tmp_path / "var")
    workers = [
        subprocess.Popen(
            [str(BIN / "renewals"), "worker"],
            env=env,
            stdout=(tmp_path / f"worker{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(3)
    ]
    try:
        quotes = QuoteService(dev_env.client, pool, settings.temporal_task_queue)
        gate = asyncio.Semaphore(25)

        async def one(i: int) -> None:
            async with gate:
                await drive(quotes, f"S{run}-{i:05d}", i)

        first = asyncio.gather(*(one(i) for i in range(QUOTES // 2)))
        await asyncio.sleep(1.0)
        workers[0].send_signal(signal.SIGKILL)
        await first
        await asyncio.gather(*(one(i) for i in range(QUOTES // 2, QUOTES)))

        for _ in range(240):
            states = {
                r["state"]: r["n"] for r in await rows(pool, "SELECT state, count(*) AS n FROM quotes GROUP BY 1")
            }
            mails = await scalar(pool, "SELECT count(*) FROM sent_mail WHERE status = 'sent'")
            renewed = await scalar(pool, "SELECT count(*) FROM renewals")
            holds = await scalar(pool, "SELECT count(*) FROM auto_renew_holds")
            if (
                states == EXPECTED
                and mails == QUOTES + EXPECTED["paid"]
                and renewed == EXPECTED["paid"]
                and holds == EXPECTED["accepted"]
            ):
                break
            await asyncio.sleep(0.5)
        assert states == EXPECTED
        assert mails == QUOTES + EXPECTED["paid"]
        assert len(mailbox.messages()) == QUOTES + EXPECTED["paid"]
        assert renewed == EXPECTED["paid"]
        assert await scalar(pool, "SELECT count(DISTINCT subscription_id) FROM renewals") == EXPECTED["paid"]
        assert await scalar(pool, "SELECT count(*) FROM payments") == EXPECTED["paid"]
        # R17: each accepted quote holds its subscription's auto-renew until it is paid or ends.
        assert holds == EXPECTED["accepted"]
        await audit(dev_env, pool)
        assert workers[0].wait(5) == -signal.SIGKILL
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        assert [w.wait(30) for w in workers[1:]] == [0, 0]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
