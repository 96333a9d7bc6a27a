"""What every fault case runs through: 20 quotes being paid and 10 auto-renewals due, on real parts, and
what must hold once the fault is over (R20): every quote paid once, every term renewed once, no hold or
reservation left, nothing stuck, `renewals ops audit` clean."""

import asyncio
from datetime import date

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.calendar_handles import start_calendar
from domain.models import DataFile, Subscription
from domain.quotes import Quote, QuoteState, quote_workflow_id, subscription_workflow_id
from payments.gateway import Card
from services import audit as auditing
from services.ops import stuck_workflows
from services.quotes import QuoteService
from store.loader import load
from store.pool import Pool
from tests.helpers import end_workflows, quote_result, request, rows, scalar, subscriptions
from workers.demo_data import ACME, demo_data, renewable_subscriptions

GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
PAYING, DUE = 20, 10


class Scene:
    def __init__(self, env: WorkflowEnvironment, pool: Pool, settings, quotes: QuoteService, gateway) -> None:
        self.env, self.pool, self.settings, self.quotes, self.gateway = env, pool, settings, quotes, gateway
        self.numbers: list[str] = []
        self.due: list[str] = []

    async def prepare(self, today: date, tag: str) -> list[Quote]:
        """20 subscriptions in their window with a sent quote each, and 10 more whose term ends today."""
        data = demo_data(today)
        paying = renewable_subscriptions(f"P{tag}", ACME, PAYING, today)
        due = renewable_subscriptions(f"D{tag}", ACME, DUE, today, ends_in=0)
        extra = DataFile.model_validate({**data.model_dump(mode="json"), "subscriptions": paying + due})
        async with self.pool.connection() as conn:
            await load(conn, extra)
        self.due = [s["id"] for s in due]
        self.due_subscriptions = [Subscription.model_validate(s) for s in due]
        # Every other subscription has its calendar, as `renewals load` leaves them.
        others = [s.id for s in data.subscriptions] + [s["id"] for s in paying]
        await subscriptions(self.env, self.pool, self.settings).sync(others)
        created = await asyncio.gather(*(self.quotes.create(request(s["id"]), send=True) for s in paying))
        self.numbers = [q.number for q in created]
        self.paying = [s["id"] for s in paying]
        return list(created)

    async def start_auto_renewals(self, store: bool = True) -> None:
        """Their calendars start, and auto-renew at once (the end date is today). Without `store`, started
        from the data as loaded, as `renewals load` tells them, without reading the store."""
        if store:
            await subscriptions(self.env, self.pool, self.settings).sync(self.due)
            return
        for sub in self.due_subscriptions:
            await start_calendar(self.env.client, sub, 0, self.settings.temporal_task_queue, tell=True)

    async def tokens(self, card: Card = GOOD) -> list[str]:
        return [await self.gateway.tokenize(card) for _ in self.numbers]

    async def pay_all(self, tokens: list[str] | None = None, **options) -> list:
        """Every quote accepted and paid at once by card, as 20 buyers would: each answer, or its refusal."""
        tokens = tokens or await self.tokens()
        return await asyncio.gather(
            *(
                self.quotes.accept(number, pay=True, payment_method=token, **options)
                for number, token in zip(self.numbers, tokens, strict=True)
            ),
            return_exceptions=True,
        )

    async def all_paid(self, timeout: float = 300) -> None:
        results = await asyncio.wait_for(
            asyncio.gather(*(quote_result(self.env.client, n) for n in self.numbers)), timeout
        )
        assert [r.state for r in results] == [QuoteState.PAID] * len(self.numbers)

    async def renewed_once(self, timeout: float = 120) -> None:
        """Every paying and due subscription renewed exactly once (the renewals key allows no second)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            count = await scalar(self.pool, "SELECT count(*) FROM renewals")
            if count >= PAYING + len(self.due) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        renewed = await rows(self.pool, "SELECT subscription_id, source FROM renewals ORDER BY 1")
        sources = {r["subscription_id"]: r["source"] for r in renewed}
        assert len(renewed) == PAYING + len(self.due), renewed
        assert sum(1 for s in sources.values() if s == "auto-renew") == len(self.due)

    async def settled(self, calendars: bool) -> None:
        """Paid once, renewed once, no hold or reservation left, nothing stuck, the audit clean."""
        await self.all_paid()
        await self.renewed_once()
        for number in self.numbers:
            assert await scalar(self.pool, "SELECT count(*) FROM payments WHERE quote_number = %s", number) == 1
        assert await scalar(self.pool, "SELECT count(*) FROM auto_renew_holds") == 0
        assert await scalar(self.pool, "SELECT count(*) FROM subscriptions WHERE reserved_by IS NOT NULL") == 0
        report = await auditing.audit(self.env.client, self.pool, self.gateway, calendars=calendars)
        assert report.violations == [] and report.pending == [], report
        if calendars:  # the dev server answers visibility queries; the time-skipping one does not
            await nothing_stuck(self.env.client, self.workflow_ids)

    @property
    def workflow_ids(self) -> set[str]:
        return {quote_workflow_id(n) for n in self.numbers} | {subscription_workflow_id(s) for s in self.due}

    async def end(self) -> None:
        """The scene's calendars stop with the test (the dev server is shared by the suite)."""
        await end_workflows(self.env.client, [subscription_workflow_id(s) for s in self.due])
        await end_workflows(self.env.client, [subscription_workflow_id(s) for s in self.paying])


async def nothing_stuck(client: Client, workflow_ids: set[str], timeout: float = 60) -> None:
    """None of these workflows retrying an activity or stopped (what `renewals ops stuck` shows)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [
            s
            for s in await stuck_workflows(client, days=365)
            if s.workflow_id in workflow_ids
            and s.reason in ("activity retrying", "stopped: cannot go on", "webhook delivery retrying")
        ]
        if not found:
            return
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(1)
