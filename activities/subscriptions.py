"""Talking to SubscriptionWorkflow on a quote's behalf, and mirroring its answers in PostgreSQL."""

import asyncio
from datetime import date, timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.calendar_handles import calendar_update, ensure_calendar
from contracts import subscription as calendar
from contracts.failures import Failure
from contracts.subscription import (
    AttachInput,
    AutoRenewState,
    DetachInput,
    Owner,
    RenewTermInput,
    RenewTermResult,
    ReserveResult,
    TermInput,
)
from domain.models import PurchaseMethod, Subscription, Term
from domain.quote_effects import TermRef, TermRenewal
from store.calendars import subscription_row
from store.catalog import insert_new_subscription
from store.pool import Pool
from store.quotes import (
    MOVED,
    THEIRS,
    TermToRenew,
    drop_hold,
    record_quote_renewals,
    renewal_of,
    sync_auto_renew,
    undo_renewal,
)

R = TypeVar("R")


class AttachQuoteInput(BaseModel):
    subscription_id: str
    quote_number: str
    hold: bool
    owner: Owner | None = None


class DetachQuoteInput(BaseModel):
    subscription_id: str
    quote_number: str


class TermsInput(BaseModel):
    """A quote's renewal terms, one per line: reserved before the charge, released if it fails. `owner`:
    the quote's customer and purchase method, which must still own each subscription (R21)."""

    quote_number: str
    terms: list[TermRef]
    owner: Owner | None = None
    hold: bool = False  # reserve: the quote, accepted, holds auto-renew with each term (R17)


class ReserveTermsResult(BaseModel):
    results: list[ReserveResult]

    @property
    def refused(self) -> list[ReserveResult]:
        return [r for r in self.results if not r.granted]


class ReleaseTermsResult(BaseModel):
    released: int


class RenewTermsInput(BaseModel):
    quote_number: str
    renewals: list[TermRenewal]


class RenewTermsResult(BaseModel):
    renewed: dict[str, date]
    not_renewed: dict[str, str] = {}


class RenewalNotFinished(Exception):
    """The store recorded the renewals but a calendar has not yet: retried (an outage), never refunded."""


class CreateSubscriptionInput(BaseModel):
    quote_number: str
    line_no: int
    csn: str
    product: str
    seats: int
    term: Term
    currency: str
    start_date: date
    purchase_method: PurchaseMethod = PurchaseMethod.DIRECT
    partner_csn: str | None = None


class CreateSubscriptionResult(BaseModel):
    subscription_id: str
    end_date: date


class SubscriptionActivities:
    def __init__(self, client: Client, pool: Pool) -> None:
        self.client = client
        self.pool = pool

    async def _calendar_update(
        self, subscription_id: str, update: str, arg: BaseModel, result: type[R], once_per_run: str | None = None
    ) -> R:
        """The update on the running calendar; only when there is none is it started (or refused, lapsed). Its
        id is this step's, so an attempt that timed out waiting in a busy calendar's queue is joined by the
        next attempt, not sent again: the workflow run and activity (a local activity's attempts), or, for a
        step a quote's run takes at most once (`once_per_run`: attach, detach), that step's name, which the
        regular activity an outage falls back to joins as well."""
        info = activity.info()
        call = once_per_run or str(info.activity_id)
        step = f"{update}:{subscription_id}:{info.workflow_id}:{info.workflow_run_id}:{call}"
        try:
            return await calendar_update(self.client, subscription_id, update, arg, result, step)
        except RPCError as err:
            if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
        await ensure_calendar(self.client, self.pool, subscription_id, info.task_queue)
        return await calendar_update(self.client, subscription_id, update, arg, result, step)

    async def _update_and_mirror(
        self, subscription_id: str, update: str, arg: BaseModel, once_per_run: str | None = None
    ) -> AutoRenewState:
        """The update changes the workflow's state only; the store mirrors its answer by version."""
        state = await self._calendar_update(subscription_id, update, arg, AutoRenewState, once_per_run)
        await self._mirror(state)
        return state

    async def _mirror(self, state: AutoRenewState) -> None:
        async with self.pool.connection() as conn:
            await sync_auto_renew(
                conn, state.subscription_id, state.auto_renew, state.held_by, state.version, state.reserved_by
            )

    @activity.defn
    async def attach_quote(self, input: AttachQuoteInput) -> AutoRenewState:
        """The quote is pending on this subscription; with `hold`, auto-renew is off until it ends (R02)."""
        return await self._update_and_mirror(
            input.subscription_id,
            calendar.ATTACH,
            AttachInput(quote_number=input.quote_number, hold=input.hold, owner=input.owner),
            once_per_run=f"hold={input.hold}",  # a run attaches once, and once more with a hold (R17)
        )

    @activity.defn
    async def detach_quote(self, input: DetachQuoteInput) -> AutoRenewState | None:
        """The quote ended; auto-renew back to its value before the holds once none is left (R03). A lapsed
        subscription's calendar has ended: only the store's record of the hold goes."""
        try:
            return await self._update_and_mirror(
                input.subscription_id, calendar.DETACH, DetachInput(quote_number=input.quote_number), once_per_run="end"
            )
        except ApplicationError as err:
            if err.type not in (Failure.LAPSED, Failure.INVALID_DATA):  # lapsed, or no such subscription
                raise
        async with self.pool.connection() as conn:
            await drop_hold(conn, input.subscription_id, input.quote_number)
        return None

    @activity.defn
    async def reserve_terms(self, input: TermsInput) -> ReserveTermsResult:
        """R16, before any money moves: each term granted to this quote, or refused with who has it. A term
        this quote already renewed is granted again (a retry after a crash goes on to paid, R20)."""

        async def reserve(ref: TermRef) -> ReserveResult:
            try:
                granted = await self._calendar_update(
                    ref.subscription_id,
                    calendar.RESERVE,
                    TermInput(holder=input.quote_number, term_end=ref.term_end, owner=input.owner, hold=input.hold),
                    ReserveResult,
                )
            except ApplicationError as err:
                if err.type != Failure.LAPSED:
                    raise
                return ReserveResult(subscription_id=ref.subscription_id, granted=False, rule="R01", reason=err.message)
            if granted.state is not None:
                await self._mirror(granted.state)
            moved = await self._moved(ref, input.quote_number, input.owner) if granted.granted else None
            return granted if moved is None else moved

        results = await asyncio.gather(*(reserve(ref) for ref in input.terms))
        activity.logger.info(
            "quote=%s reserved=%s", input.quote_number, {r.subscription_id: r.granted for r in results}
        )
        return ReserveTermsResult(results=list(results))

    async def _moved(self, ref: TermRef, quote_number: str, owner: Owner | None) -> ReserveResult | None:
        """A load writes the store before it tells the calendar: the stored row is asked too. A later end date
        was renewed elsewhere (R18); another owner ends this quote's claim (R21)."""
        async with self.pool.connection() as conn:
            row = await subscription_row(conn, ref.subscription_id)
            if row is None:
                return None
            stored = Owner(csn=row["csn"], purchase_method=row["purchase_method"], partner_csn=row["partner_csn"])
            if owner is not None and stored != owner:
                return ReserveResult(
                    subscription_id=ref.subscription_id,
                    granted=False,
                    rule="R21",
                    reason=f"{ref.subscription_id} now belongs to {stored}; only a quote of its current owner can renew it",
                )
            if row["end_date"] <= ref.term_end:
                return None
            renewal = await renewal_of(conn, ref.subscription_id, ref.term_end)
        if renewal is not None and renewal["quote_number"] == quote_number:
            return None
        return ReserveResult(
            subscription_id=ref.subscription_id,
            granted=False,
            rule="R16",
            reason=f"{ref.subscription_id} was renewed outside this system; it now runs until {row['end_date']}",
        )

    @activity.defn
    async def release_terms(self, input: TermsInput) -> ReleaseTermsResult:
        """The payment did not happen: every term this quote reserved is open again. Safe to repeat; a
        calendar that has ended holds no reservation, so there is nothing to release there. A calendar that
        cannot answer (its task failing, paused) has not released: retried until it does (R16)."""

        async def release(ref: TermRef) -> None:
            try:
                state = await calendar_update(
                    self.client,
                    ref.subscription_id,
                    calendar.RELEASE,
                    TermInput(holder=input.quote_number, term_end=ref.term_end),
                    AutoRenewState,
                )
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                return
            await self._mirror(state)

        await asyncio.gather(*(release(ref) for ref in input.terms))
        return ReleaseTermsResult(released=len(input.terms))

    @activity.defn
    async def renew_terms(self, input: RenewTermsInput) -> RenewTermsResult:
        """The money is taken: record the quote's renewals in the store, all of them or none (a term another
        renewed, or a load moved, leaves every term as it was, so the payment goes back whole), then renew
        each at its calendar. A term this quote renewed before is renewed again (a retry). A business failure
        before the store recorded them renews nothing (the money goes back); any failure after is retried."""
        async with self.pool.connection() as conn:
            outcomes = await record_quote_renewals(
                conn,
                input.quote_number,
                [
                    TermToRenew(
                        line.subscription_id,
                        line.term_end,
                        line.to_end_date,
                        line.seats,
                        line.term.value,
                        line.partner_csn,
                        line.currency,
                    )
                    for line in input.renewals
                ],
            )
        refused = {sub_id: _not_renewed(sub_id, *outcome) for sub_id, outcome in outcomes.items()}
        refused = {sub_id: reason for sub_id, reason in refused.items() if reason is not None}
        if refused:
            activity.logger.info("quote=%s renewed nothing: %s", input.quote_number, refused)
            return RenewTermsResult(renewed={}, not_renewed=refused)

        async def renew(line: TermRenewal) -> tuple[TermRenewal, str | None]:
            answer = await calendar_update(
                self.client,
                line.subscription_id,
                calendar.RENEW,
                RenewTermInput(
                    holder=input.quote_number,
                    term_end=line.term_end,
                    to_end_date=line.to_end_date,
                    seats=line.seats,
                    term=line.term,
                    partner_csn=line.partner_csn,
                    currency=line.currency,
                ),
                RenewTermResult,
            )
            if not answer.renewed and answer.retry_later:  # another holds it for now: recorded here, so retried
                raise RenewalNotFinished(f"{line.subscription_id}: {answer.reason}")
            if not answer.renewed:
                async with self.pool.connection() as conn:
                    await undo_renewal(conn, line.subscription_id, line.term_end, input.quote_number)
                return line, answer.reason
            await self._mirror(answer.state)
            return line, None

        try:
            renewed = await asyncio.gather(*(renew(line) for line in input.renewals))
        except Exception as err:  # recorded in the store: from here it is finished, never refunded
            raise RenewalNotFinished(
                f"{input.quote_number}: renewed in the store, not yet at a calendar: {err}"
            ) from err
        result = RenewTermsResult(
            renewed={line.subscription_id: line.to_end_date for line, reason in renewed if reason is None},
            not_renewed={line.subscription_id: reason for line, reason in renewed if reason is not None},
        )
        activity.logger.info(
            "quote=%s renewed %s%s",
            input.quote_number,
            ", ".join(f"{sub} to {end.isoformat()}" for sub, end in result.renewed.items()) or "nothing",
            "".join(f"; not {sub}: {why}" for sub, why in result.not_renewed.items()),
        )
        return result

    @activity.defn
    async def create_subscription(self, input: CreateSubscriptionInput) -> CreateSubscriptionResult:
        """A paid new purchase becomes a subscription (id from quote and line: created once) with a calendar."""
        sub = Subscription(
            id=f"SUB-{input.quote_number}-{input.line_no}",
            csn=input.csn,
            product=input.product,
            seats=input.seats,
            term=input.term,
            currency=input.currency,
            purchase_method=input.purchase_method,
            partner_csn=input.partner_csn,
            start_date=input.start_date,
            end_date=input.term.next_end_date(input.start_date - timedelta(days=1)),
            auto_renew=True,
        )
        async with self.pool.connection() as conn:
            await insert_new_subscription(conn, sub)
        await ensure_calendar(self.client, self.pool, sub.id, activity.info().task_queue)
        return CreateSubscriptionResult(subscription_id=sub.id, end_date=sub.end_date)


def _not_renewed(sub_id: str, outcome: str, row: dict | None) -> str | None:
    """Why the store would not renew a term for this quote, in the buyer's words; None if it did (or had)."""
    if outcome == MOVED and row is not None:
        return f"{sub_id} was renewed outside this system; it now runs until {row['end_date']}"
    if outcome == THEIRS and row is not None:
        return f"{sub_id} was renewed by {row['quote_number'] or row['source']}"
    return None
