"""SubscriptionWorkflow: one per subscription; its auto-renew switch, its pending quotes, its calendar.

Each run is one term: the window opens at -90 days, an auto quote may go out at -30 (R12),
auto-renew fires at the end date unless a pending quote holds it (R02, R17), and the window
closes at +45 (lapsed if nothing renewed it). Quotes attach to it and detach from it; a quote
being paid reserves the term, then renews it (R16). One workflow serialises all of it, so a term
is renewed once (R03), and every other pending quote on a renewed term is superseded.

State: one `CalendarState` (contracts/subscription.py), passed whole to the next run when the term is
renewed or the history grows long.
"""

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        AutoRenewInput,
        CalendarActivities,
        CreateAutoQuoteInput,
        RecordAutoRenewFailureInput,
        RecordLapseInput,
        SendRenewalEmailInput,
    )
    from contracts import quote as quote_contract
    from contracts import subscription as contract
    from contracts.quote import SupersedeInput
    from contracts.refusals import refuse
    from contracts.subscription import (
        AttachInput,
        AutoRenewState,
        CalendarState,
        DetachInput,
        Owner,
        RenewTermInput,
        RenewTermResult,
        Reservation,
        ReserveResult,
        SetAutoRenewInput,
        SourceChangedInput,
        TermInput,
    )
    from domain.calendar import TermCalendar, auto_quote_wanted
    from domain.eligibility import window_closes
    from domain.json_views import subscription_json
    from domain.models import Subscription, Term
    from domain.webhooks import EventType
    from workflows.steps import durable, failure_message, step
    from workflows.webhooks import Announcer

AUTO_RENEWER = "auto-renew"
ELSEWHERE = "the source system"


@workflow.defn(name=contract.WORKFLOW)
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: CalendarState) -> None:
        self.calendar = input.model_copy(deep=True)
        # This run's own: the term was renewed, something changed, the window closed, what to confirm.
        self.renewed = False
        self.changed = False
        self.lapsing = False
        self.renewal_email: SendRenewalEmailInput | None = None
        self.outbox: list[asyncio.Task] = []
        self.announcer = Announcer()

    @property
    def sub(self) -> Subscription:
        return self.calendar.subscription

    @property
    def held_by(self) -> list[str]:
        return self.calendar.held_by

    @workflow.run
    async def run(self, input: CalendarState) -> AutoRenewState:
        try:
            return await self._run()
        except ActivityError as err:
            # It cannot go on: the UI row (and `renewals ops stuck`) says why.
            workflow.set_current_details(f"{self.calendar.details(None)} · stopped: {err.cause or err}")
            raise

    async def _run(self) -> AutoRenewState:
        while not self.renewed and not workflow.info().is_continue_as_new_suggested():
            calendar = TermCalendar.of(self.sub.end_date)
            now = workflow.now()
            if now >= calendar.window_closes:
                if self.calendar.reservation is not None:
                    # A term granted to a payment in progress is never lapsed under it (R16).
                    await workflow.wait_condition(lambda: self.calendar.reservation is None)
                    continue
                if await self._lapse():
                    return self.state()
                continue  # a load reopened it while it was lapsing: the next term
            if now >= calendar.renewal_due and self._may_auto_renew():
                await self._auto_renew()
                continue
            if calendar.auto_quote <= now < calendar.renewal_due and self.calendar.auto_quote is None:
                if auto_quote_wanted(self.sub, len(self.calendar.pending)):
                    self._send_auto_quote()
                    continue
            upcoming = calendar.next_after(now)
            workflow.set_current_details(self.calendar.details(upcoming))
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
        workflow.continue_as_new(self.calendar.carried())

    def _may_auto_renew(self) -> bool:
        c = self.calendar
        return self.sub.auto_renew and not self.held_by and c.reservation is None and c.auto_renew_error is None

    async def _lapse(self) -> bool:
        """R01: the window closed and nothing renewed the term. True once it has lapsed for good; False when
        a load reopened it (renewed elsewhere) while its last deliveries were going out."""
        self.lapsing = True
        await durable(
            CalendarActivities.record_lapse,
            RecordLapseInput(subscription_id=self.sub.id, end_date=self.sub.end_date),
        )
        self._announce("subscription.lapsed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.outbox)
        return not self.renewed

    @workflow.query(name=contract.STATE)
    def state(self) -> AutoRenewState:
        c = self.calendar
        upcoming = TermCalendar.of(self.sub.end_date).next_after(workflow.now())
        return AutoRenewState(
            subscription_id=self.sub.id,
            auto_renew=self.sub.auto_renew,
            held_by=self.held_by,
            pending=list(c.pending),
            version=c.version,
            end_date=self.sub.end_date,
            next_event=f"{upcoming[0]} {upcoming[1].date().isoformat()}" if upcoming else None,
            reserved_by=c.reservation.holder if c.reservation else None,
            auto_renew_error=c.auto_renew_error,
        )

    @workflow.update(name=contract.ATTACH)
    def attach(self, input: AttachInput) -> AutoRenewState:
        """A pending quote; one that holds (R02, R17) turns auto-renew off and keeps the value before."""
        c = self.calendar
        holds = c.pending.get(input.quote_number, False) or input.hold
        first_hold = holds and not self.held_by
        c.pending[input.quote_number] = holds
        if first_hold:
            c.restore_to = self.sub.auto_renew
            self._set_auto_renew(False)
        self._touch()
        return self.state()

    @workflow.update(name=contract.DETACH)
    def detach(self, input: DetachInput) -> AutoRenewState:
        """R03: paid turns auto-renew on; otherwise it returns to the value before, once no quote holds it."""
        c = self.calendar
        if input.quote_number in c.pending:
            held = c.pending.pop(input.quote_number)
            if held and input.paid:
                c.restore_to = True
            if held and not self.held_by:
                self._set_auto_renew(bool(c.restore_to))
                c.restore_to = None
            self._touch()
        return self.state()

    @workflow.update(name=contract.RESERVE)
    def reserve(self, input: TermInput) -> ReserveResult:
        """R16, first step of a payment: the term is this holder's until it renews or releases it. A term
        this holder already renewed is granted again: its payment, retried, goes on to paid (R20)."""
        if self.calendar.claims.get(input.term_end.isoformat()) == input.holder:
            return ReserveResult(subscription_id=self.sub.id, granted=True, holder=input.holder, state=self.state())
        refusal = self._refusal(input)
        if refusal is not None:
            return refusal
        if self.calendar.reservation is None:
            self.calendar.reservation = Reservation(holder=input.holder, term_end=input.term_end, since=workflow.now())
            self._touch()
        return ReserveResult(subscription_id=self.sub.id, granted=True, holder=input.holder, state=self.state())

    @workflow.update(name=contract.RELEASE)
    def release(self, input: TermInput) -> AutoRenewState:
        """The payment did not happen: the term is open again (and auto-renew may run)."""
        if self._reserved_for(input):
            self.calendar.reservation = None
            self._touch()
        return self.state()

    @workflow.update(name=contract.RENEW)
    def renew(self, input: RenewTermInput) -> RenewTermResult:
        """The reserved term is paid: renew it once, and supersede every other pending quote on it."""
        if self.calendar.claims.get(input.term_end.isoformat()) == input.holder:
            return RenewTermResult(renewed=True, state=self.state())
        if not self._reserved_for(input):
            refusal = self._refusal(input)
            reason = refusal.reason if refusal else f"{self.sub.id} was not reserved by {input.holder}"
            return RenewTermResult(renewed=False, reason=reason, state=self.state())
        self._close_term(input.holder, input.to_end_date, input.seats, input.term)
        return RenewTermResult(renewed=True, state=self.state())

    @workflow.update(name=contract.SET_AUTO_RENEW)
    def set_auto_renew(self, input: SetAutoRenewInput) -> AutoRenewState:
        self._set_auto_renew(input.on)
        self.calendar.auto_renew_error = None
        self._touch()
        return self.state()

    @set_auto_renew.validator
    def _validate_set_auto_renew(self, input: SetAutoRenewInput) -> None:
        if self.held_by:
            refuse("R02", f"auto-renew of {self.sub.id} is held by quote {', '.join(self.held_by)} until it ends")
        reservation = self.calendar.reservation
        if reservation is not None and reservation.holder == AUTO_RENEWER:
            refuse("R02", f"{self.sub.id} is being auto-renewed right now; switch it for the next term in a moment")

    @workflow.signal(name=contract.SOURCE_CHANGED)
    async def source_changed(self, input: SourceChangedInput) -> None:
        """`renewals load` changed this subscription's row (sent with start, so it needs no worker to answer).
        Adopted, but the term never rolls back (R18), nor the switch while a quote holds it. A later end
        date was renewed elsewhere: pending quotes end."""
        c = self.calendar
        if c.reservation is not None:
            await workflow.wait_condition(lambda: self.calendar.reservation is None)
        own, incoming, held = self.sub, input.subscription, bool(self.held_by)
        moved = Owner.of(incoming) != Owner.of(own)
        if moved:
            # R21: a new owner ends the old owner's quotes.
            self._end_pending(
                None, f"the subscription moved to {Owner.of(incoming)}", f"{own.id} now belongs to {Owner.of(incoming)}"
            )
        elsewhere = incoming.end_date > own.end_date
        if elsewhere:
            self._renewed_elsewhere(incoming.end_date)
        if incoming.end_date < own.end_date:
            incoming = incoming.model_copy(update={"end_date": own.end_date, "seats": own.seats, "term": own.term})
        if held:
            incoming = incoming.model_copy(update={"auto_renew": self.sub.auto_renew})
        c.auto_renew_error = None
        switched = incoming.auto_renew != self.sub.auto_renew
        c.subscription = incoming
        self._touch()
        if elsewhere:
            self._announce("subscription.renewed")
        if switched:
            self._announce("subscription.auto_renew_changed")

    def _reserved_for(self, input: TermInput) -> bool:
        held = self.calendar.reservation
        return held is not None and held.holder == input.holder and held.term_end == input.term_end

    def _renewed_elsewhere(self, end_date: date) -> None:
        """A load says the term was renewed outside this system (R18): claimed by the source system, the
        pending quotes superseded, and the next term begins."""
        c = self.calendar
        key = self.sub.end_date.isoformat()
        c.claims[key] = ELSEWHERE
        c.renewed_on[key] = workflow.now().date()
        self._end_pending(
            None,
            "superseded: renewed outside this system",
            f"{self.sub.id} was renewed outside this system; it now runs until {end_date.isoformat()}",
        )
        c.auto_quote = None
        self.renewed = True

    def _refusal(self, input: TermInput) -> ReserveResult | None:
        """Why this holder cannot have the term, or None: renewed, gone, closed, someone else's, or asked
        for by a quote of a customer who no longer owns it (R21)."""
        sub, c = self.sub.id, self.calendar
        key = input.term_end.isoformat()

        def refused(rule: str, reason: str, holder: str | None = None, retry_later: bool = False) -> ReserveResult:
            return ReserveResult(
                subscription_id=sub, granted=False, holder=holder, rule=rule, reason=reason, retry_later=retry_later
            )

        if key in c.claims:
            by, on = c.claims[key], c.renewed_on.get(key)
            return refused("R16", f"{sub} was renewed by {by}" + (f" on {on.isoformat()}" if on else ""), by)
        if input.term_end != self.sub.end_date:
            return refused(
                "R16", f"{sub} now runs until {self.sub.end_date.isoformat()}; its term ending {key} is no longer open"
            )
        if input.owner is not None and input.owner != Owner.of(self.sub):
            return refused(
                "R21", f"{sub} now belongs to {Owner.of(self.sub)}; only a quote of its current owner can renew it"
            )
        if self._reserved_for(input):
            return None
        if self.lapsing or workflow.now() >= TermCalendar.of(input.term_end).window_closes:
            return refused("R01", f"the renewal window of {sub} closed on {window_closes(input.term_end).isoformat()}")
        if c.reservation is not None:
            since = c.reservation.since.date().isoformat()
            holder = c.reservation.holder
            return refused("R16", f"{sub} is being renewed by {holder} (since {since})", holder, retry_later=True)
        return None

    async def _auto_renew(self) -> None:
        """Same seats and term at the price-book price; the term is reserved while that is recorded, and
        claimed only once it was (R16). An outage is waited for; a business failure (no price) is recorded
        and claims nothing. A load that already moved the end date renewed it elsewhere: nothing is billed."""
        sub, c = self.sub, self.calendar
        c.reservation = Reservation(holder=AUTO_RENEWER, term_end=sub.end_date, since=workflow.now())
        try:
            # A local activity first (one event when it works), as a quote's steps: an outage goes on as a
            # regular activity, retried for as long as it lasts.
            renewal = await step(CalendarActivities.auto_renew, AutoRenewInput(subscription=sub))
        except ActivityError as err:
            c.reservation = None
            c.auto_renew_error = failure_message(err)
            self._touch()
            workflow.logger.warning("auto-renew of %s failed: %s", sub.id, c.auto_renew_error)
            await durable(
                CalendarActivities.record_auto_renew_failure,
                RecordAutoRenewFailureInput(subscription_id=sub.id, term_end=sub.end_date, reason=c.auto_renew_error),
            )
            return
        c.reservation = None
        if renewal.elsewhere is not None:
            self._renewed_elsewhere(renewal.elsewhere.end_date)
            c.subscription = renewal.elsewhere.model_copy(update={"auto_renew": sub.auto_renew})
            self._announce("subscription.renewed")
            self._touch()
            return
        self._close_term(AUTO_RENEWER, renewal.to_end_date, sub.seats, sub.term)
        self.renewal_email = SendRenewalEmailInput(
            subscription=sub, to_end_date=renewal.to_end_date, amount=renewal.amount, promotion=renewal.promotion
        )

    def _send_auto_quote(self) -> None:
        """R12: one auto quote per term, made in the background so an outage never holds up the term's
        other dates; its number is fixed per term, so making it twice is harmless."""
        term_end = self.sub.end_date
        self.calendar.auto_quote = "being made"

        async def make() -> None:
            try:
                created = await durable(
                    CalendarActivities.create_auto_quote,
                    CreateAutoQuoteInput(subscription_id=self.sub.id, term_end=term_end, today=workflow.now().date()),
                )
                outcome = created.quote_number
            except ActivityError as err:
                # Never retried within the term (R12: at most one auto quote); the reason shows in the details.
                outcome = f"not sent: {failure_message(err)}"
                workflow.logger.warning("auto quote for %s %s", self.sub.id, outcome)
            if self.sub.end_date == term_end:
                self.calendar.auto_quote = outcome
                self._touch()

        self.outbox.append(asyncio.create_task(make()))

    def _close_term(self, winner: str, end_date: date, seats: int, term: Term) -> None:
        c = self.calendar
        key = self.sub.end_date.isoformat()
        today = workflow.now().date()
        c.claims[key] = winner
        c.renewed_on[key] = today
        c.reservation = None
        self._end_pending(winner, f"superseded by {winner}", f"{self.sub.id} was renewed by {winner} on {today}")
        if winner != AUTO_RENEWER:
            self._set_auto_renew(True)  # R03: a paid quote turns auto-renew back on, whether or not it held it
        c.subscription = self.sub.model_copy(update={"end_date": end_date, "seats": seats, "term": term})
        c.auto_quote = None
        self.renewed = True
        self._announce("subscription.renewed")
        self._touch()

    def _end_pending(self, winner: str | None, reason: str, detail: str) -> None:
        """The term is renewed: the winner leaves (R03: auto-renew on if it held); every other pending
        quote is superseded, and auto-renew returns to its value before their holds."""
        c = self.calendar
        won_held = c.pending.pop(winner, False) if winner else False
        losers, c.pending = c.pending, {}
        if won_held or any(losers.values()):
            self._set_auto_renew(won_held or bool(c.restore_to))
            c.restore_to = None
        for number in losers:
            self.outbox.append(
                asyncio.create_task(self._supersede(number, SupersedeInput(reason=reason, detail=detail)))
            )

    async def _supersede(self, number: str, input: SupersedeInput) -> None:
        try:
            quote = workflow.get_external_workflow_handle(quote_contract.workflow_id(number))
            await quote.signal(quote_contract.SUPERSEDE, input)
        except FailureError:
            workflow.logger.info("quote %s had ended before it could be superseded", number)

    async def _finish_term(self) -> None:
        """Before the next term: the superseded quotes are told, the webhooks delivered, and the
        auto-renewal confirmed by email, all at once. An email that cannot be sent is logged; it never undoes
        or repeats the renewal."""
        await asyncio.gather(*self.outbox, self._confirm_renewal())

    async def _confirm_renewal(self) -> None:
        if self.renewal_email is None:
            return
        try:
            await step(CalendarActivities.send_renewal_email, self.renewal_email, timeout=timedelta(seconds=30))
        except ActivityError as err:
            workflow.logger.warning("renewal email for %s not sent: %s", self.sub.id, failure_message(err))

    def _set_auto_renew(self, value: bool) -> None:
        changed = value != self.sub.auto_renew
        self.calendar.subscription = self.sub.model_copy(update={"auto_renew": value})
        if changed:
            self._announce("subscription.auto_renew_changed")

    def _announce(self, event: EventType) -> None:
        """A webhook with the subscription as it is now, delivered in the background: no step waits for a
        receiver; only the next term's start waits for this term's deliveries (the outbox)."""
        data = subscription_json(self.sub, workflow.now().date(), self.held_by)
        delivery = self.announcer.announce(event, data)
        if delivery is not None:
            self.outbox.append(delivery)

    def _touch(self) -> None:
        """Every change gets a new version, so the store's mirror keeps only the newest state."""
        self.calendar.version += 1
        self.changed = True
