"""Talking to SubscriptionWorkflow on a quote's behalf, and mirroring its answers in PostgreSQL."""

from datetime import date

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from domain.models import Subscription, Term
from domain.quotes import subscription_workflow_id
from store.catalog import from_row
from store.quotes import record_renewal, sync_auto_renew
from workflows.subscription import (
    AutoRenewState,
    ClaimRenewalInput,
    HoldInput,
    ReleaseInput,
    SubscriptionInput,
    SubscriptionWorkflow,
)


class HoldAutoRenewInput(BaseModel):
    subscription_id: str
    quote_number: str


class ReleaseAutoRenewInput(BaseModel):
    subscription_id: str
    quote_number: str
    paid: bool


class RenewSubscriptionInput(BaseModel):
    subscription_id: str
    quote_number: str
    from_end_date: date
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
        """The subscription's workflow, started from the stored subscription if it is not running."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM subscriptions WHERE id = %s", (subscription_id,))
            row = await cur.fetchone()
        if row is None:
            raise ApplicationError(f"unknown subscription {subscription_id}", non_retryable=True)
        return await self.client.start_workflow(
            SubscriptionWorkflow.run,
            SubscriptionInput(subscription=from_row(Subscription, row), version=row["auto_renew_version"]),
            id=subscription_workflow_id(subscription_id),
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Subscription {subscription_id}: {row['product']} for customer {row['csn']}",
        )

    async def _mirror(self, state: AutoRenewState) -> AutoRenewState:
        async with self.pool.connection() as conn:
            await sync_auto_renew(conn, state.subscription_id, state.auto_renew, state.held_by, state.version)
        return state

    @activity.defn
    async def hold_auto_renew(self, input: HoldAutoRenewInput) -> AutoRenewState:
        handle = await self._workflow(input.subscription_id)
        state = await handle.execute_update(SubscriptionWorkflow.hold, HoldInput(quote_number=input.quote_number))
        return await self._mirror(state)

    @activity.defn
    async def release_auto_renew(self, input: ReleaseAutoRenewInput) -> AutoRenewState:
        handle = await self._workflow(input.subscription_id)
        state = await handle.execute_update(
            SubscriptionWorkflow.release, ReleaseInput(quote_number=input.quote_number, paid=input.paid)
        )
        return await self._mirror(state)

    @activity.defn
    async def renew_subscription(self, input: RenewSubscriptionInput) -> RenewSubscriptionResult:
        """Claim the term from the subscription's workflow, then record the renewal once."""
        handle = await self._workflow(input.subscription_id)
        claim = await handle.execute_update(
            SubscriptionWorkflow.claim_renewal,
            ClaimRenewalInput(
                claimant=input.quote_number, from_end_date=input.from_end_date, seats=input.seats, term=input.term
            ),
        )
        if claim.granted and claim.to_end_date:
            async with self.pool.connection() as conn:
                await record_renewal(
                    conn, input.subscription_id, input.from_end_date, claim.to_end_date,
                    input.seats, input.term.value, "quote", input.quote_number,
                )
        return RenewSubscriptionResult(renewed=claim.granted, claimed_by=claim.claimed_by, to_end_date=claim.to_end_date)
