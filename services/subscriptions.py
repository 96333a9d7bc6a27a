"""Subscriptions as the command line, loads and the dev stack use them: a customer's subscriptions and
their holds, loading a data file and telling the calendars (R18) with what that set in motion (R12), and
the buyer's auto-renew switch."""

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

from activities.calendar_handles import ensure_calendar, start_calendar, tell_calendar_and_ask
from contracts import quote as quote_contract
from contracts import subscription as calendar
from contracts.refusals import refused_update
from contracts.subscription import AutoRenewState, LoadAnswer, SetAutoRenewInput
from domain.calendar import auto_quote_due, midnight
from domain.errors import BadInput, NotFound, Refused, Stopped
from domain.models import DataFile, Subscription
from domain.quotes import Quote, QuoteState
from store.calendars import all_open_subscription_ids, calendars_to_tell, ending_on, mark_told, subscription_row
from store.catalog import from_row, get_customer, subscriptions_of
from store.loader import LoadResult, load
from store.pool import Pool
from store.quotes import holds_of, sync_auto_renew

# A load tells its calendars this many at a time (each one start-with-signal the server answers), and
# records them told a batch at a time.
SYNC_CONCURRENCY = 32
SYNC_BATCH = 500
# How long a load waits, in all, for the calendars whose auto quote it may make due to answer (a worker
# must take them) and for those quotes' first send; after it, the rest are told without an answer.
ANSWER_WAIT = timedelta(seconds=60)
# How an update the load stopped waiting for ends: the SDK turns the cancelled call into its own error.
NOT_ANSWERED = (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError)


class AutoQuoteMade(BaseModel):
    """An auto quote (R12) a load made due: its number (None: it could not be made), and whether it was sent,
    to whom, or why not (`sent` None: not yet known when the load stopped waiting)."""

    number: str | None
    subscription_id: str
    sent: bool | None
    recipients: list[str] = []
    reason: str | None = None


class RenewalsAt(BaseModel):
    """The auto-renewals due at one midnight (00:00 UTC, when every calendar event falls), and those a
    pending quote holds (R02), each with its quotes."""

    at: datetime
    renewing: list[str] = []
    held: dict[str, list[str]] = {}


class LoadReport(BaseModel):
    """What `renewals load` did and set in motion: the file's counts, the calendars started and told, the
    auto quotes made (R12), the calendars that did not answer in time, and tonight's auto-renewals."""

    result: LoadResult
    started: int = 0
    told: int = 0
    auto_quotes: list[AutoQuoteMade] = []
    unanswered: list[str] = []
    tonight: RenewalsAt

    def then(self, resync: "LoadReport") -> "LoadReport":
        """This load followed by `--resync`: the file's counts, every calendar told again, both's auto quotes."""
        return resync.model_copy(
            update={
                "result": self.result,
                "started": self.started + resync.started,
                "auto_quotes": self.auto_quotes + resync.auto_quotes,
                "unanswered": sorted({*self.unanswered, *resync.unanswered}),
            }
        )


class Told(BaseModel):
    """One calendar told: its row's version, whether the load started it, and what it answered."""

    subscription_id: str
    version: int
    started: bool
    answer: LoadAnswer | None = None
    unanswered: bool = False


class SubscriptionService:
    def __init__(self, client: Client, pool: Pool, task_queue: str) -> None:
        self.client = client
        self.pool = pool
        self.task_queue = task_queue

    async def of_customer(
        self, csn: str, limit: int | None = None, starting_after: str | None = None
    ) -> tuple[list[Subscription], dict[str, list[str]]]:
        """The customer's subscriptions (by end date, then id; `limit` of them after the subscription
        `starting_after`), and the quotes holding each one's auto-renew."""
        async with self.pool.connection() as conn:
            if await get_customer(conn, csn) is None:
                raise NotFound(f"unknown customer CSN {csn}")
            subs = await subscriptions_of(conn, csn, limit, starting_after)
            return subs, await holds_of(conn, [s.id for s in subs])

    async def load(self, data: DataFile) -> LoadReport:
        """Upsert the file in one transaction (R18: the system's terms kept), then tell the calendars and say
        what that set in motion."""
        async with self.pool.connection() as conn:
            result = await load(conn, data)
        return await self._report(result, await self._tell(None, asking=True), result.subscriptions)

    async def resync(self) -> LoadReport:
        """Tell every open calendar its stored row again (`renewals load --resync`)."""
        async with self.pool.connection() as conn:
            ids = await all_open_subscription_ids(conn)
        return await self._report(LoadResult(counts={}), await self._tell(ids, asking=True), ids)

    async def sync(self, subscription_ids: list[str] | None = None) -> int:
        """Tell each calendar what a load changed, starting the ones not yet running (one call each, answered
        by the server: no worker needs to be up): the rows not yet told, so a sync that failed is retried by
        the next load; or, when named, these rows. Returns how many calendars were told."""
        return len(await self._tell(subscription_ids, asking=False))

    async def _tell(self, subscription_ids: list[str] | None, asking: bool) -> list[Told]:
        """`asking`: a row whose auto quote may be due is told by an update its calendar answers (R12), until
        ANSWER_WAIT has passed; every other row by the signal sent with start."""
        async with self.pool.connection() as conn:
            rows = await calendars_to_tell(conn, subscription_ids)
        gate = asyncio.Semaphore(SYNC_CONCURRENCY)
        now = datetime.now(UTC)
        deadline = asyncio.get_running_loop().time() + ANSWER_WAIT.total_seconds()

        async def tell(row) -> Told:
            sub = from_row(Subscription, row)
            told = Told(
                subscription_id=sub.id, version=row["source_version"], started=not row["calendar_synced_version"]
            )
            version, switch = row["auto_renew_version"], row["auto_renew_from_source"]
            async with gate:
                if asking and auto_quote_due(sub, now):
                    try:
                        async with asyncio.timeout_at(deadline):
                            answer = await tell_calendar_and_ask(self.client, sub, version, self.task_queue, switch)
                        return told.model_copy(update={"answer": answer})
                    except (*NOT_ANSWERED, WorkflowUpdateFailedError):
                        # No worker in time (or one without the `load` update): told below, by the signal, which
                        # takes the row the same way (taking it twice changes nothing).
                        told.unanswered = True
                await start_calendar(self.client, sub, version, self.task_queue, tell=True, switch_from_source=switch)
            return told

        done: list[Told] = []
        for chunk in range(0, len(rows), SYNC_BATCH):
            outcomes = await asyncio.gather(
                *(tell(r) for r in rows[chunk : chunk + SYNC_BATCH]), return_exceptions=True
            )
            told = [outcome for outcome in outcomes if isinstance(outcome, Told)]
            if told:
                async with self.pool.connection() as conn:
                    await mark_told(conn, [(t.subscription_id, t.version) for t in told])
            done += told
            failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
            if failed is not None:
                raise failed  # the rows not told are told by the next load
        return done

    async def _report(self, result: LoadResult, told: list[Told], subscription_ids: list[str]) -> LoadReport:
        """The counts, the auto quotes the calendars answered with, once each has been sent or not, and the
        auto-renewals of these subscriptions due at the next midnight."""
        made = [t.answer for t in told if t.answer is not None and t.answer.auto_quote is not None]
        deadline = asyncio.get_running_loop().time() + ANSWER_WAIT.total_seconds()
        auto_quotes = await asyncio.gather(*(self._sent(a.subscription_id, a.auto_quote or "", deadline) for a in made))
        at = midnight(datetime.now(UTC).date() + timedelta(days=1))
        async with self.pool.connection() as conn:
            ending = await ending_on(conn, subscription_ids, at.date())
            holds = await holds_of(conn, [row["id"] for row in ending])
        return LoadReport(
            result=result,
            started=sum(t.started for t in told),
            told=sum(not t.started for t in told),
            auto_quotes=sorted(auto_quotes, key=lambda q: (q.number or "", q.subscription_id)),
            unanswered=[t.subscription_id for t in told if t.unanswered],
            tonight=RenewalsAt(
                at=at,
                renewing=[row["id"] for row in ending if row["auto_renew"] and row["id"] not in holds],
                held=holds,
            ),
        )

    async def _sent(self, subscription_id: str, outcome: str, deadline: float) -> AutoQuoteMade:
        """The calendar's outcome, a number or `not sent: why`; a number is asked for its first pricing, after
        which it has sent itself or says why not (R12)."""
        if outcome.startswith("not sent"):
            return AutoQuoteMade(
                number=None, subscription_id=subscription_id, sent=False, reason=outcome.removeprefix("not sent: ")
            )
        made = AutoQuoteMade(number=outcome, subscription_id=subscription_id, sent=None)
        handle = self.client.get_workflow_handle(quote_contract.workflow_id(outcome))
        try:
            async with asyncio.timeout_at(deadline), refused_update():
                quote: Quote = await handle.execute_update(
                    quote_contract.PRICED, quote_contract.PricedInput(), result_type=Quote
                )
        except NOT_ANSWERED:
            return made
        except (Refused, BadInput, Stopped) as err:
            return made.model_copy(update={"sent": False, "reason": err.message})
        if quote.state is QuoteState.SENT:
            return made.model_copy(update={"sent": True, "recipients": quote.all_recipients})
        return made.model_copy(update={"sent": False, "reason": quote.pricing_error or f"it is {quote.state.value}"})

    async def set_auto_renew(self, subscription_id: str, on: bool) -> AutoRenewState:
        """The buyer's switch (R02: refused while a quote holds it); the store mirrors the answer."""
        async with self.pool.connection() as conn:
            row = await subscription_row(conn, subscription_id)
        if row is None:
            raise NotFound(f"unknown subscription {subscription_id}")
        if row["lapsed_on"]:
            raise Refused("R01", f"{subscription_id} lapsed on {row['lapsed_on'].isoformat()}: its window has closed")
        handle = await ensure_calendar(self.client, self.pool, subscription_id, self.task_queue)
        async with refused_update():
            state = await handle.execute_update(
                calendar.SET_AUTO_RENEW, SetAutoRenewInput(on=on), result_type=AutoRenewState
            )
        async with self.pool.connection() as conn:
            await sync_auto_renew(conn, state.subscription_id, state.auto_renew, state.held_by, state.version)
        return state
