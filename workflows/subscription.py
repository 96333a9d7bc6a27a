"""SubscriptionWorkflow: one per subscription; its auto-renew switch, its pending quotes, its calendar.

Each run is one term: the window opens at -90 days, an auto quote may go out at -30 (R12),
auto-renew fires at the end date unless a pending quote holds it (R02, R17), and the window
closes at +45 (lapsed if nothing renewed it). Quotes attach to it and detach from it; a quote
being paid reserves the term, then renews it (R16). One workflow serialises all of it, so a term
is renewed once (R03), and every other pending quote on a renewed term is superseded.
When the term is renewed, or the history grows long, it continues as new, carrying its state.
"""

import asyncio
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        AutoRenewInput,
        AutoRenewResult,
        CalendarActivities,
        CreateAutoQuoteInput,
        RecordAutoRenewFailureInput,
        RecordLapseInput,
        SendRenewalEmailInput,
    )
    from domain.calendar import TermCalendar, auto_quote_wanted
    from domain.eligibility import window_closes
    from domain.json_views import subscription_json
    from domain.models import Subscription, Term
    from domain.quotes import quote_workflow_id
    from domain.webhooks import EventType
    from workflows.refusals import refuse
    from workflows.webhooks import WEBHOOKS, Announcer

ACTIVITY_TIMEOUT = timedelta(minutes=1)
# An auto-renewal that cannot be recorded within about an hour is reported, not retried forever.
AUTO_RENEW_RETRY = RetryPolicy(maximum_attempts=12, maximum_interval=timedelta(minutes=10))
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
EMAIL_DEADLINE = timedelta(days=2)
AUTO_RENEWER = "auto-renew"
ELSEWHERE = "the source system"

# Paths that changed under running calendars; tests/histories replays the ones before.
RESERVED_AUTO_RENEW = "auto-renew-reserves-first"
RENEWED_ELSEWHERE = "load-adopts-term-renewed-elsewhere"


class Reservation(BaseModel):
    """A term being paid for (R16): nobody else may renew it, and auto-renew waits."""

    holder: str
    term_end: date
    since: datetime


class SubscriptionInput(BaseModel):
    subscription: Subscription
    pending: dict[str, bool] = {}
    restore_to: bool | None = None
    version: int = 0
    claims: dict[str, str] = {}
    renewed_on: dict[str, date] = {}
    auto_quote: str | None = None
    reservation: Reservation | None = None
    auto_renew_error: str | None = None


class AutoRenewState(BaseModel):
    subscription_id: str
    auto_renew: bool
    held_by: list[str]
    pending: list[str]
    version: int
    end_date: date
    next_event: str | None = None
    reserved_by: str | None = None
    auto_renew_error: str | None = None


class AttachInput(BaseModel):
    quote_number: str
    hold: bool


class DetachInput(BaseModel):
    quote_number: str
    paid: bool = False


class TermInput(BaseModel):
    """A quote (or auto-renew) asking about the term that ends on `term_end`."""

    holder: str
    term_end: date


class ReserveResult(BaseModel):
    subscription_id: str
    granted: bool
    holder: str | None = None
    rule: str | None = None
    reason: str | None = None
    retry_later: bool = False


class RenewTermInput(TermInput):
    to_end_date: date
    seats: int
    term: Term


class RenewTermResult(BaseModel):
    renewed: bool
    reason: str | None = None
    state: AutoRenewState


class SupersedeInput(BaseModel):
    """Sent to a pending quote whose term was renewed another way (R16, Lifecycle)."""

    reason: str
    detail: str


class ClaimRenewalInput(BaseModel):
    claimant: str
    from_end_date: date
    to_end_date: date
    seats: int
    term: Term


class ClaimRenewalResult(BaseModel):
    granted: bool
    claimed_by: str | None
    from_end_date: date
    to_end_date: date | None


class SetAutoRenewInput(BaseModel):
    on: bool


class SyncInput(BaseModel):
    subscription: Subscription


@workflow.defn
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        self.sub = input.subscription
        self.pending = dict(input.pending)
        self.restore_to = input.restore_to
        self.version = input.version
        self.claims = dict(input.claims)
        self.renewed_on = dict(input.renewed_on)
        self.auto_quote = input.auto_quote
        self.reservation = input.reservation
        self.auto_renew_error = input.auto_renew_error
        self.renewed = False
        self.changed = False
        self.lapsing = False
        self.outbox: list[asyncio.Task] = []
        self.renewal_email: SendRenewalEmailInput | None = None
        self.announcer = Announcer()
        self.webhooks = False

    @workflow.run
    async def run(self, input: SubscriptionInput) -> AutoRenewState:
        # Decided at the run's first step, not inside a handler: a run begun before webhooks keeps its shape.
        self.webhooks = workflow.patched(WEBHOOKS)
        try:
            return await self._run()
        except ActivityError as err:
            # It cannot go on: the UI row (and `renewals ops stuck`) says why.
            workflow.set_current_details(f"{self._details(None)} · stopped: {err.cause or err}")
            raise

    async def _run(self) -> AutoRenewState:
        while not self.renewed and not workflow.info().is_continue_as_new_suggested():
            calendar = TermCalendar.of(self.sub.end_date)
            now = workflow.now()
            if now >= calendar.window_closes:
                if self.reservation is not None:
                    # A term granted to a payment in progress is never lapsed under it (R16).
                    await workflow.wait_condition(lambda: self.reservation is None)
                    continue
                self.lapsing = True
                await workflow.execute_activity_method(
                    CalendarActivities.record_lapse,
                    RecordLapseInput(subscription_id=self.sub.id, end_date=self.sub.end_date),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                self._announce("subscription.lapsed")
                await workflow.wait_condition(workflow.all_handlers_finished)
                await asyncio.gather(*self.outbox)
                return self.state()
            if (
                now >= calendar.renewal_due
                and self.sub.auto_renew
                and not self.held_by
                and self.reservation is None
                and self.auto_renew_error is None
            ):
                await self._auto_renew()
                continue
            if calendar.auto_quote <= now < calendar.renewal_due and self.auto_quote is None:
                if auto_quote_wanted(self.sub, len(self.pending)):
                    await self._send_auto_quote()
                    continue
            upcoming = calendar.next_after(now)
            workflow.set_current_details(self._details(upcoming))
            self.changed = False
            try:
                await workflow.wait_condition(
                    lambda: self.changed or self.renewed or workflow.info().is_continue_as_new_suggested(),
                    timeout=upcoming[1] - now if upcoming else None,
                )
            except TimeoutError:
                pass
        await self._finish_term()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carry())

    @property
    def held_by(self) -> list[str]:
        return [number for number, hold in self.pending.items() if hold]

    @workflow.query
    def state(self) -> AutoRenewState:
        upcoming = TermCalendar.of(self.sub.end_date).next_after(workflow.now())
        return AutoRenewState(
            subscription_id=self.sub.id,
            auto_renew=self.sub.auto_renew,
            held_by=self.held_by,
            pending=list(self.pending),
            version=self.version,
            end_date=self.sub.end_date,
            next_event=f"{upcoming[0]} {upcoming[1].date().isoformat()}" if upcoming else None,
            reserved_by=self.reservation.holder if self.reservation else None,
            auto_renew_error=self.auto_renew_error,
        )

    @workflow.update
    def attach(self, input: AttachInput) -> AutoRenewState:
        """A pending quote; one that holds (R02, R17) turns auto-renew off and keeps the value before."""
        holds = self.pending.get(input.quote_number, False) or input.hold
        first_hold = holds and not self.held_by
        self.pending[input.quote_number] = holds
        if first_hold:
            self.restore_to = self.sub.auto_renew
            self._set_auto_renew(False)
        self._touch()
        return self.state()

    @workflow.update
    def detach(self, input: DetachInput) -> AutoRenewState:
        """R03: paid turns auto-renew on; otherwise it returns to the value before, once no quote holds it."""
        if input.quote_number in self.pending:
            held = self.pending.pop(input.quote_number)
            if held and input.paid:
                self.restore_to = True
            if held and not self.held_by:
                self._set_auto_renew(bool(self.restore_to))
                self.restore_to = None
            self._touch()
        return self.state()

    @workflow.update
    def reserve(self, input: TermInput) -> ReserveResult:
        """R16, first step of a payment: the term is this holder's until it renews or releases it."""
        refusal = self._refusal(input)
        if refusal is not None:
            return refusal
        if self.reservation is None:
            self.reservation = Reservation(holder=input.holder, term_end=input.term_end, since=workflow.now())
            self._touch()
        return ReserveResult(subscription_id=self.sub.id, granted=True, holder=input.holder)

    @workflow.update
    def release(self, input: TermInput) -> AutoRenewState:
        """The payment did not happen: the term is open again (and auto-renew may run)."""
        if self._reserved_for(input):
            self.reservation = None
            self._touch()
        return self.state()

    @workflow.update
    def renew(self, input: RenewTermInput) -> RenewTermResult:
        """The reserved term is paid: renew it once, and supersede every other pending quote on it."""
        if self.claims.get(input.term_end.isoformat()) == input.holder:
            return RenewTermResult(renewed=True, state=self.state())
        if not self._reserved_for(input):
            refusal = self._refusal(input)
            reason = refusal.reason if refusal else f"{self.sub.id} was not reserved by {input.holder}"
            return RenewTermResult(renewed=False, reason=reason, state=self.state())
        self._close_term(input.holder, input.to_end_date, input.seats, input.term)
        return RenewTermResult(renewed=True, state=self.state())

    @workflow.update
    def claim_renewal(self, input: ClaimRenewalInput) -> ClaimRenewalResult:
        """Kept for quotes paid before reservations existed: the first claimant of a term renews it."""
        key = input.from_end_date.isoformat()
        reserved_by_other = self.reservation is not None and self.reservation.holder != input.claimant
        if (
            key not in self.claims
            and input.from_end_date == self.sub.end_date
            and not self.renewed
            and not reserved_by_other
        ):
            self.claims[key] = input.claimant
            self._next_term(input.to_end_date, input.seats, input.term)
        claimant = self.claims.get(key)
        granted = claimant == input.claimant
        return ClaimRenewalResult(
            granted=granted,
            claimed_by=claimant,
            from_end_date=input.from_end_date,
            to_end_date=input.to_end_date if granted else None,
        )

    @workflow.update
    def set_auto_renew(self, input: SetAutoRenewInput) -> AutoRenewState:
        self._set_auto_renew(input.on)
        self.auto_renew_error = None
        self._touch()
        return self.state()

    @set_auto_renew.validator
    def _validate_set_auto_renew(self, input: SetAutoRenewInput) -> None:
        if self.held_by:
            refuse("R02", f"auto-renew of {self.sub.id} is held by quote {', '.join(self.held_by)} until it ends")

    @workflow.signal
    async def source_changed(self, input: SyncInput) -> None:
        """`renewals load` changed this subscription's row (sent with start, so it needs no worker to answer)."""
        await self._adopt(input.subscription)

    @workflow.update
    async def sync(self, input: SyncInput) -> AutoRenewState:
        """The update that loads used before `source_changed`; kept for calendars whose history has it."""
        await self._adopt(input.subscription)
        return self.state()

    async def _adopt(self, incoming: Subscription) -> None:
        """The store's data for this subscription: adopted, but the term never rolls back (R18), nor the
        switch while a quote holds it. A later end date was renewed elsewhere: pending quotes end."""
        if self.reservation is not None:
            await workflow.wait_condition(lambda: self.reservation is None)
        own = self.sub
        held = bool(self.held_by)
        elsewhere = incoming.end_date > own.end_date and workflow.patched(RENEWED_ELSEWHERE)
        if elsewhere:
            key = own.end_date.isoformat()
            self.claims[key] = ELSEWHERE
            self.renewed_on[key] = workflow.now().date()
            self._end_pending(
                None,
                "superseded: renewed outside this system",
                f"{own.id} was renewed outside this system; it now runs until {incoming.end_date.isoformat()}",
            )
        if incoming.end_date < own.end_date:
            incoming = incoming.model_copy(update={"end_date": own.end_date, "seats": own.seats, "term": own.term})
        if held:
            incoming = incoming.model_copy(update={"auto_renew": self.sub.auto_renew})
        if elsewhere:
            self.auto_quote = None
            self.renewed = True
        self.auto_renew_error = None
        switched = incoming.auto_renew != self.sub.auto_renew
        self.sub = incoming
        self._touch()
        if elsewhere:
            self._announce("subscription.renewed")
        if switched:
            self._announce("subscription.auto_renew_changed")

    def _reserved_for(self, input: TermInput) -> bool:
        held = self.reservation
        return held is not None and held.holder == input.holder and held.term_end == input.term_end

    def _refusal(self, input: TermInput) -> ReserveResult | None:
        """Why this holder cannot have the term, or None: renewed, gone, closed, or someone else's."""
        sub = self.sub.id
        key = input.term_end.isoformat()

        def refused(rule: str, reason: str, holder: str | None = None, retry_later: bool = False) -> ReserveResult:
            return ReserveResult(
                subscription_id=sub, granted=False, holder=holder, rule=rule, reason=reason, retry_later=retry_later
            )

        if key in self.claims:
            by = self.claims[key]
            on = self.renewed_on.get(key)
            return refused("R16", f"{sub} was renewed by {by}" + (f" on {on.isoformat()}" if on else ""), by)
        if input.term_end != self.sub.end_date:
            return refused(
                "R16", f"{sub} now runs until {self.sub.end_date.isoformat()}; its term ending {key} is no longer open"
            )
        if self._reserved_for(input):
            return None
        if self.lapsing or workflow.now() >= TermCalendar.of(input.term_end).window_closes:
            return refused("R01", f"the renewal window of {sub} closed on {window_closes(input.term_end).isoformat()}")
        if self.reservation is not None:
            holder = self.reservation.holder
            return refused(
                "R16",
                f"{sub} is being renewed by {holder} (since {self.reservation.since.date().isoformat()})",
                holder,
                retry_later=True,
            )
        return None

    async def _auto_renew(self) -> None:
        """Same seats and term at the price-book price; the term is reserved while that is recorded, and
        claimed only once it was (R16). A business failure is recorded and claims nothing."""
        if not workflow.patched(RESERVED_AUTO_RENEW):
            return await self._auto_renew_claiming_first()
        sub = self.sub
        self.reservation = Reservation(holder=AUTO_RENEWER, term_end=sub.end_date, since=workflow.now())
        try:
            renewal: AutoRenewResult = await workflow.execute_activity_method(
                CalendarActivities.auto_renew,
                AutoRenewInput(subscription=sub, send_email=False),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=AUTO_RENEW_RETRY,
            )
        except ActivityError as err:
            self.reservation = None
            self.auto_renew_error = _failure(err)
            self._touch()
            workflow.logger.warning("auto-renew of %s failed: %s", sub.id, self.auto_renew_error)
            await workflow.execute_activity_method(
                CalendarActivities.record_auto_renew_failure,
                RecordAutoRenewFailureInput(
                    subscription_id=sub.id, term_end=sub.end_date, reason=self.auto_renew_error
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=AUTO_RENEW_RETRY,
            )
            return
        self._close_term(AUTO_RENEWER, renewal.to_end_date, sub.seats, sub.term)
        self.renewal_email = SendRenewalEmailInput(
            subscription=sub, to_end_date=renewal.to_end_date, amount=renewal.amount, promotion=renewal.promotion
        )

    async def _auto_renew_claiming_first(self) -> None:
        """The path before reservations, for calendars whose history already took it."""
        self.claims[self.sub.end_date.isoformat()] = AUTO_RENEWER
        renewal = await workflow.execute_activity_method(
            CalendarActivities.auto_renew,
            AutoRenewInput(subscription=self.sub),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._next_term(renewal.to_end_date, self.sub.seats, self.sub.term)

    async def _send_auto_quote(self) -> None:
        """R12: one auto quote per term; its number is fixed per term, so running this twice is harmless."""
        try:
            created = await workflow.execute_activity_method(
                CalendarActivities.create_auto_quote,
                CreateAutoQuoteInput(
                    subscription_id=self.sub.id, term_end=self.sub.end_date, today=workflow.now().date()
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        except ActivityError as err:
            # Never retried within the term (R12: at most one auto quote); the reason shows in the details.
            self.auto_quote = f"not sent: {_failure(err)}"
            workflow.logger.warning("auto quote for %s not sent: %s", self.sub.id, self.auto_quote)
            return
        self.auto_quote = created.quote_number

    def _close_term(self, winner: str, end_date: date, seats: int, term: Term) -> None:
        key = self.sub.end_date.isoformat()
        today = workflow.now().date()
        self.claims[key] = winner
        self.renewed_on[key] = today
        self.reservation = None
        self._end_pending(winner, f"superseded by {winner}", f"{self.sub.id} was renewed by {winner} on {today}")
        self._next_term(end_date, seats, term)
        self._touch()

    def _end_pending(self, winner: str | None, reason: str, detail: str) -> None:
        """The term is renewed: the winner leaves (R03: auto-renew on if it held); every other pending
        quote is superseded, and auto-renew returns to its value before their holds."""
        won_held = self.pending.pop(winner, False) if winner else False
        losers, self.pending = self.pending, {}
        if won_held or any(losers.values()):
            self._set_auto_renew(won_held or bool(self.restore_to))
            self.restore_to = None
        for number in losers:
            self.outbox.append(
                asyncio.create_task(self._supersede(number, SupersedeInput(reason=reason, detail=detail)))
            )

    async def _supersede(self, number: str, input: SupersedeInput) -> None:
        try:
            await workflow.get_external_workflow_handle(quote_workflow_id(number)).signal("supersede", input)
        except FailureError:
            workflow.logger.info("quote %s had ended before it could be superseded", number)

    async def _finish_term(self) -> None:
        """Before the next term: the superseded quotes are told, and the auto-renewal confirmed by email.
        An email that cannot be sent is logged; it never undoes or repeats the renewal."""
        await asyncio.gather(*self.outbox)
        if self.renewal_email is None:
            return
        try:
            await workflow.execute_activity_method(
                CalendarActivities.send_renewal_email,
                self.renewal_email,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=EMAIL_DEADLINE,
                retry_policy=EMAIL_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("renewal email for %s not sent: %s", self.sub.id, _failure(err))

    def _next_term(self, end_date: date, seats: int, term: Term) -> None:
        self.sub = self.sub.model_copy(update={"end_date": end_date, "seats": seats, "term": term})
        self.auto_quote = None
        self.renewed = True
        self._announce("subscription.renewed")

    def _set_auto_renew(self, value: bool) -> None:
        changed = value != self.sub.auto_renew
        self.sub = self.sub.model_copy(update={"auto_renew": value})
        if changed:
            self._announce("subscription.auto_renew_changed")

    def _announce(self, event: EventType) -> None:
        """A webhook with the subscription as it is now, delivered in the background: no step waits for a
        receiver; only the next term's start waits for this term's deliveries (the outbox)."""
        if not self.webhooks:
            return
        data = subscription_json(self.sub, workflow.now().date(), self.held_by)
        delivery = self.announcer.announce(event, data)
        if delivery is not None:
            self.outbox.append(delivery)

    def _touch(self) -> None:
        """Every change gets a new version, so the store's mirror keeps only the newest state."""
        self.version += 1
        self.changed = True

    def _details(self, upcoming) -> str:
        switch = f"held by {', '.join(self.held_by)}" if self.held_by else ("on" if self.sub.auto_renew else "off")
        parts = [self.sub.id, f"ends {self.sub.end_date.isoformat()}", f"auto-renew {switch}"]
        if self.reservation:
            parts.append(f"being renewed by {self.reservation.holder}")
        if self.auto_renew_error:
            parts.append(f"auto-renew failed: {self.auto_renew_error}")
        if self.auto_quote and self.auto_quote.startswith("not sent"):
            parts.append(f"auto quote {self.auto_quote}")
        if upcoming:
            parts.append(f"next: {upcoming[0]} {upcoming[1].date().isoformat()}")
        return " · ".join(parts)

    def _carry(self) -> SubscriptionInput:
        recent = sorted(self.claims)[-6:]
        return SubscriptionInput(
            subscription=self.sub,
            pending=self.pending,
            restore_to=self.restore_to,
            version=self.version,
            claims={k: self.claims[k] for k in recent},
            renewed_on={k: self.renewed_on[k] for k in recent if k in self.renewed_on},
            auto_quote=self.auto_quote,
            reservation=self.reservation,
            auto_renew_error=self.auto_renew_error,
        )


def _failure(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, FailureError) and cause.message else str(cause or err)
