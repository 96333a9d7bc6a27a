"""Subscriptions as the command line, loads and the dev stack use them: a customer's subscriptions and
their holds, loading a data file and telling the calendars (R18), and the buyer's auto-renew switch."""

import asyncio

from temporalio.client import Client

from activities.calendar_handles import ensure_calendar, start_calendar
from contracts import subscription as calendar
from contracts.refusals import refused_update
from contracts.subscription import AutoRenewState, SetAutoRenewInput
from domain.errors import NotFound, Refused
from domain.models import DataFile, Subscription
from store.calendars import all_open_subscription_ids, calendars_to_tell, mark_told, subscription_row
from store.catalog import from_row, get_customer, subscriptions_of
from store.loader import LoadResult, load
from store.pool import Pool
from store.quotes import holds_of, sync_auto_renew

# A load tells its calendars this many at a time (each one start-with-signal the server answers), and
# records them told a batch at a time.
SYNC_CONCURRENCY = 32
SYNC_BATCH = 500


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

    async def load(self, data: DataFile) -> tuple[LoadResult, int]:
        """Upsert the file in one transaction (R18: the system's terms kept), then tell the calendars."""
        async with self.pool.connection() as conn:
            result = await load(conn, data)
        return result, await self.sync()

    async def sync(self, subscription_ids: list[str] | None = None) -> int:
        """Tell each calendar what a load changed, starting the ones not yet running (one call each, answered
        by the server: no worker needs to be up): the rows not yet told, so a sync that failed is retried by
        the next load; or, when named, these rows. Returns how many calendars were told."""
        async with self.pool.connection() as conn:
            rows = await calendars_to_tell(conn, subscription_ids)
        gate = asyncio.Semaphore(SYNC_CONCURRENCY)

        async def tell(row) -> tuple[str, int]:
            sub = from_row(Subscription, row)
            async with gate:
                await start_calendar(
                    self.client,
                    sub,
                    row["auto_renew_version"],
                    self.task_queue,
                    tell=True,
                    switch_from_source=row["auto_renew_from_source"],
                )
            return sub.id, row["source_version"]

        for chunk in range(0, len(rows), SYNC_BATCH):
            outcomes = await asyncio.gather(
                *(tell(r) for r in rows[chunk : chunk + SYNC_BATCH]), return_exceptions=True
            )
            told = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
            if told:
                async with self.pool.connection() as conn:
                    await mark_told(conn, told)
            failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
            if failed is not None:
                raise failed  # the rows not told are told by the next load
        return len(rows)

    async def resync(self) -> int:
        """Tell every open calendar its stored row again (`renewals load --resync`)."""
        async with self.pool.connection() as conn:
            ids = await all_open_subscription_ids(conn)
        return await self.sync(ids)

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
