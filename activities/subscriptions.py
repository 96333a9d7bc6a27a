"""Talking to SubscriptionWorkflow on a quote's behalf, and mirroring its answers in PostgreSQL."""

from datetime import date

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHandle

from domain.models import Term
from starters.calendars import ensure_calendar
from store.quotes import record_renewal, sync_auto_renew
from workflows.subscription import (
    AttachInput,
    AutoRenewState,
    ClaimRenewalInput,
    DetachInput,
    SubscriptionWorkflow,
)


class AttachQuoteInput(BaseModel):
    subscription_id: str
    quote_number: str
    hold: bool


class DetachQuoteInput(BaseModel):
    subscription_id: str
    quote_number: str
    paid: bool


class RenewSubscriptionInput(BaseModel):
    subscription_id: str
    quote_number: str
    from_end_date: date
    to_end_date: date
    seats: int
    term: Term


class RenewSubscriptionResult(BaseModel):
    renewed: bool
    claimed_by: str | None
    to_end_date: date | None


class SubscriptionActivities:
    def __init__(self, client: Client, pool: AsyncConnectionPool) -> None:
        self.client = client
        self.pool = pool

    async def _workflow(self, subscription_id: str) -> WorkflowHandle:
        return await ensure_calendar(self.client, self.pool, subscription_id, activity.info().task_queue)

    async def _mirror(self, state: AutoRenewState) -> AutoRenewState:
        async with self.pool.connection() as conn:
            await sync_auto_renew(conn, state.subscription_id, state.auto_renew, state.held_by, state.version)
        return state

    @activity.defn
    async def attach_quote(self, input: AttachQuoteInput) -> AutoRenewState:
        """The quote is pending on this subscription; with `hold`, auto-renew is off until it ends (R02)."""
        handle = await self._workflow(input.subscription_id)
        state = await handle.execute_update(
            SubscriptionWorkflow.attach, AttachInput(quote_number=input.quote_number, hold=input.hold)
        )
        return await self._mirror(state)

    @activity.defn
    async def detach_quote(self, input: DetachQuoteInput) -> AutoRenewState:
        """The quote ended; auto-renew back on if paid, else as it was (R03)."""
        handle = await self._workflow(input.subscription_id)
        state = await handle.execute_update(
            SubscriptionWorkflow.detach, DetachInput(quote_number=input.quote_number, paid=input.paid)
        )
        return await self._mirror(state)

    @activity.defn
    async def renew_subscription(self, input: RenewSubscriptionInput) -> RenewSubscriptionResult:
        """Claim the term from the subscription's workflow, then record the renewal once."""
        handle = await self._workflow(input.subscription_id)
        claim = await handle.execute_update(
            SubscriptionWorkflow.claim_renewal,
            ClaimRenewalInput(
                claimant=input.quote_number, from_end_date=input.from_end_date, to_end_date=input.to_end_date,
                seats=input.seats, term=input.term,
            ),
        )
        if claim.granted:
            async with self.pool.connection() as conn:
                await record_renewal(
                    conn, input.subscription_id, input.from_end_date, input.to_end_date,
                    input.seats, input.term.value, "quote", input.quote_number,
                )
        return RenewSubscriptionResult(renewed=claim.granted, claimed_by=claim.claimed_by, to_end_date=claim.to_end_date)
