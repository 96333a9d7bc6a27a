"""`renewals ops stuck`: the quotes (and calendars) that need a person, from visibility and describe."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHistoryEventFilterType
from temporalio.service import RPCError

from contracts import quote as quote_contract
from contracts import subscription as calendar_contract
from contracts.search_attributes import QUOTE_EXPIRES_AT, QUOTE_STATE
from domain.quotes import Quote, subscription_workflow_id
from payments.gateway import PaymentGateway
from services.audit import AuditReport, audit
from store.calendars import open_auto_renew_failures
from store.mail import refused_mail
from store.pool import Pool

# How long `ops stuck` waits for a worker to answer for one quote before listing it as not answered.
QUERY_TIMEOUT = timedelta(seconds=5)


class Stuck(BaseModel):
    workflow_id: str
    kind: str
    state: str | None
    reason: str
    detail: str
    attempt: int | None = None
    last_failure: str | None = None


async def _failure(client: Client, workflow_id: str, run_id: str | None) -> str:
    """The message (and cause) the workflow failed with, from its close event."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        failure = event.workflow_execution_failed_event_attributes.failure
        messages = [failure.message]
        while failure.HasField("cause"):
            failure = failure.cause
            messages.append(failure.message)
        return ": ".join(m for m in messages if m)
    return ""


# The steps a quote runs inside its workflow task: one seen as a regular activity is waiting out an outage.
WAITED_OUT = {
    "price_quote",
    "save_quote",
    "attach_quote",
    "detach_quote",
    "reserve_terms",
    "release_terms",
    "renew_terms",
    "create_subscription",
    "take_payment",
    "find_payment",
    "refund_payment",
}
# How long `renewals ops stuck` waits for the store before saying it does not answer.
STORE_WAIT = 5.0
KINDS = {quote_contract.WORKFLOW: "quote", calendar_contract.WORKFLOW: "subscription"}
WATCHED = f'WorkflowType IN ("{quote_contract.WORKFLOW}", "{calendar_contract.WORKFLOW}")'


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OpsService:
    """What needs a person, for `renewals ops stuck`: from the store and from Temporal's visibility."""

    def __init__(self, client: Client, pool: Pool, gateway: PaymentGateway) -> None:
        self.client = client
        self.pool = pool
        self.gateway = gateway

    async def stuck(self, days: int, now: datetime | None = None) -> list[Stuck]:
        """What the store says (failed auto-renewals, refused mail) and what Temporal says; while the store
        does not answer, that is said, and what Temporal shows is still listed."""
        try:
            from_store = await asyncio.wait_for(self._from_store(), STORE_WAIT)
        except (TimeoutError, OSError, psycopg.Error, PoolTimeout) as err:
            from_store = [
                Stuck(
                    workflow_id="-",
                    kind="store",
                    state=None,
                    reason="the store is not answering",
                    detail=f"PostgreSQL did not answer within {STORE_WAIT:.0f} s ({type(err).__name__})",
                )
            ]
        return [*from_store, *await stuck_workflows(self.client, days, now)]

    async def _from_store(self) -> list[Stuck]:
        return [*await self.failed_auto_renewals(), *await self.refused_mail()]

    async def audit(self, since: date | None = None) -> AuditReport:
        """Money and terms reconciled (services/audit.py); the provider asked only about the quotes of the
        window from `since` on (None: every quote ever accepted or paid)."""
        return await audit(self.client, self.pool, self.gateway, since=since)

    async def refused_mail(self) -> list[Stuck]:
        """Recipients the mail server refused for good: their message was not sent (the others were)."""
        async with self.pool.connection() as conn:
            refused = await refused_mail(conn)
        return [
            Stuck(
                workflow_id=quote_contract.workflow_id(m["quote_number"])
                if m["quote_number"]
                else subscription_workflow_id(m["subscription_id"]),
                kind="quote" if m["quote_number"] else "subscription",
                state=None,
                reason="email refused",
                detail=f"{m['purpose']} email to {m['recipient']}: {m['failure']}",
            )
            for m in refused
        ]

    async def failed_auto_renewals(self) -> list[Stuck]:
        """Calendars whose auto-renewal failed for a business reason (no price) while the term is open."""
        async with self.pool.connection() as conn:
            failures = await open_auto_renew_failures(conn)
        return [
            Stuck(
                workflow_id=subscription_workflow_id(f["subscription_id"]),
                kind="subscription",
                state=None,
                reason="auto-renew failed",
                detail=f"{f['reason']} (term ending {f['term_end'].isoformat()})",
            )
            for f in failures
        ]


async def stuck_workflows(client: Client, days: int, now: datetime | None = None) -> list[Stuck]:
    """Quotes and calendars that visibility and describe show waiting on a person or a failure."""
    now = now or datetime.now(UTC)
    found: list[Stuck] = []
    async for execution in client.list_workflows(f'{WATCHED} AND ExecutionStatus = "Running"'):
        description = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        for pending in description.raw_description.pending_activities:
            if pending.attempt > 1 or pending.activity_type.name in WAITED_OUT:
                webhook = pending.activity_type.name == "deliver_webhook"
                found.append(
                    Stuck(
                        workflow_id=execution.id,
                        kind=KINDS.get(execution.workflow_type or "", "quote"),
                        state=description.typed_search_attributes.get(QUOTE_STATE),
                        reason="webhook delivery retrying" if webhook else "activity retrying",
                        detail=pending.activity_id if webhook else pending.activity_type.name,
                        attempt=pending.attempt,
                        last_failure=pending.last_failure.message or None,
                    )
                )
    async for execution in client.list_workflows(
        f'{WATCHED} AND ExecutionStatus = "Failed" AND CloseTime > "{_iso(now - timedelta(days=days))}"'
    ):
        found.append(
            Stuck(
                workflow_id=execution.id,
                kind=KINDS.get(execution.workflow_type or "", "quote"),
                state=execution.typed_search_attributes.get(QUOTE_STATE),
                reason="stopped: cannot go on",
                detail=await _failure(client, execution.id, execution.run_id),
            )
        )
    accepted = [e.id async for e in client.list_workflows('QuoteState = "accepted" AND ExecutionStatus = "Running"')]
    asking = asyncio.Semaphore(16)

    async def ask(workflow_id: str) -> Quote | RPCError:
        async with asking:
            try:
                return await client.get_workflow_handle(workflow_id).query(
                    quote_contract.STATE, result_type=Quote, rpc_timeout=QUERY_TIMEOUT
                )
            except RPCError as err:
                return err

    for workflow_id, quote in zip(accepted, await asyncio.gather(*map(ask, accepted)), strict=True):
        if isinstance(quote, RPCError):
            # No worker answers for it (its task queue has no poller, or the worker is busy): that is stuck too.
            found.append(
                Stuck(
                    workflow_id=workflow_id,
                    kind="quote",
                    state="accepted",
                    reason="no worker answers",
                    detail=quote.message[:200],
                )
            )
            continue
        if quote.accepted_at and quote.accepted_at <= now - timedelta(days=days):
            found.append(
                Stuck(
                    workflow_id=workflow_id,
                    kind="quote",
                    state="accepted",
                    reason=f"accepted, unpaid for more than {days} day(s)",
                    detail=f"accepted {_iso(quote.accepted_at)}",
                )
            )
    async for execution in client.list_workflows(
        f'QuoteState = "sent" AND QuoteExpiresAt < "{_iso(now + timedelta(days=days))}" AND ExecutionStatus = "Running"'
    ):
        expires = execution.typed_search_attributes.get(QUOTE_EXPIRES_AT)
        found.append(
            Stuck(
                workflow_id=execution.id,
                kind="quote",
                state="sent",
                reason=f"sent, expires within {days} day(s), no action",
                detail=f"expires {_iso(expires) if expires else '?'}",
            )
        )
    async for execution in client.list_workflows(
        f'QuoteState = "draft" AND StartTime < "{_iso(now - timedelta(days=days))}" AND ExecutionStatus = "Running"'
    ):
        found.append(
            Stuck(
                workflow_id=execution.id,
                kind="quote",
                state="draft",
                reason=f"draft older than {days} day(s)",
                detail=f"created {_iso(execution.start_time)}",
            )
        )
    return found
