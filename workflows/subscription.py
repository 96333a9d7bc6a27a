"""SubscriptionWorkflow: one per subscription; its auto-renew switch, its pending quotes, its calendar.

Each run is one term: the window opens at -90 days, an auto quote may go out at -30 (R12), auto-renew
fires at the end date unless a pending quote holds it (R02, R17), and the window closes at +45 (lapsed if
nothing renewed it). Every decision is the pure aggregate's (domain/calendar_aggregate.py): this workflow
serialises the commands, takes the new state and runs the effects, so a term is renewed once (R03).
State: one `Calendar`, passed whole to the next run when the term closes or the history grows long.
"""

import asyncio
from datetime import timedelta

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
    from contracts.failures import message_of
    from contracts.quote import SupersedeInput
    from contracts.refusals import encoded
    from contracts.subscription import (
        AttachInput,
        AutoQuoteNotSentInput,
        AutoRenewState,
        CalendarState,
        DetachInput,
        LoadAnswer,
        RenewTermInput,
        RenewTermResult,
        ReserveResult,
        SetAutoRenewInput,
        SourceChangedInput,
        TermInput,
    )
    from domain.calendar import TermCalendar
    from domain.calendar_aggregate import Announce, Calendar, ConfirmRenewal, Supersede, TermRefusal
    from domain.decisions import Decision
    from domain.json_views import subscription_json
    from domain.models import Subscription
    from workflows.steps import durable, step
    from workflows.webhooks import Announcer

# Before the next run: how long its deliveries and confirmation may take; what is left is carried over.
FINISH_WAIT = timedelta(minutes=1)


@workflow.defn(name=contract.WORKFLOW)
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: CalendarState) -> None:
        self.calendar: Calendar = input.model_copy(update={"undelivered": [], "unconfirmed": None}, deep=True)
        self.changed = False  # something happened: the calendar's loop looks again
        self.signals: list[asyncio.Task] = []  # the supersede signals, waited for before the next run
        self.outbox: list[asyncio.Task] = []  # webhook deliveries and the renewal's email
        self.announcer = Announcer()
        self.confirming: tuple[ConfirmRenewal, asyncio.Task] | None = None
        for event in input.undelivered:
            self.outbox.append(self.announcer.deliver(event))
        if input.unconfirmed is not None:
            self._confirm(input.unconfirmed)

    @property
    def sub(self) -> Subscription:
        return self.calendar.subscription

    @workflow.run
    async def run(self, input: CalendarState) -> AutoRenewState:
        while not self.calendar.term_closed and not workflow.info().is_continue_as_new_suggested():
            now = workflow.now()
            next_step, until = self.calendar.next_step(now)
            if next_step == "wait_for_payment":  # a term granted to a payment is never lapsed under it (R16)
                await workflow.wait_condition(lambda: self.calendar.reservation is None)
            elif next_step == "lapse":
                if await self._lapse():
                    return self.state()
            elif next_step == "auto_renew":
                await self._auto_renew()
            elif next_step == "auto_quote":
                self._send_auto_quote()
            else:
                upcoming = TermCalendar.of(self.sub.end_date).next_after(now)
                workflow.set_current_details(self.calendar.details(upcoming))
                self.changed = False
                try:
                    await workflow.wait_condition(
                        lambda: self.changed or workflow.info().is_continue_as_new_suggested(),
                        timeout=until - now if until else None,
                    )
                except TimeoutError:
                    pass
        await self._finish_run()
        workflow.continue_as_new(self.calendar.carried().model_copy(update=self._left_over()))

    def _apply(self, decision: Decision[Calendar]) -> Decision[Calendar]:
        """Take the decision's state and start its effects (none of them waits: signals, webhooks, email)."""
        self.calendar = decision.state
        self.changed = True
        for effect in decision.effects:
            if isinstance(effect, Supersede):
                self.signals.append(asyncio.create_task(self._supersede(effect)))
            elif isinstance(effect, Announce):
                data = subscription_json(effect.subscription, workflow.now().date(), effect.held_by)
                delivery = self.announcer.announce(effect.event, data)
                if delivery is not None:
                    self.outbox.append(delivery)
            elif isinstance(effect, ConfirmRenewal):
                self._confirm(effect)
        return decision

    # What the calendar answers and is told.

    @workflow.query(name=contract.STATE)
    def state(self) -> AutoRenewState:
        c = self.calendar
        upcoming = TermCalendar.of(self.sub.end_date).next_after(workflow.now())
        return AutoRenewState(
            subscription_id=self.sub.id,
            auto_renew=self.sub.auto_renew,
            held_by=c.held_by,
            pending=list(c.pending),
            version=c.version,
            end_date=self.sub.end_date,
            next_event=f"{upcoming[0]} {upcoming[1].date().isoformat()}" if upcoming else None,
            reserved_by=c.reservation.holder if c.reservation else None,
            auto_renew_error=c.auto_renew_error,
        )

    @workflow.update(name=contract.ATTACH)
    def attach(self, input: AttachInput) -> AutoRenewState:
        self._apply(self.calendar.attach(input.quote_number, input.hold, input.owner))
        return self.state()

    @workflow.update(name=contract.DETACH)
    def detach(self, input: DetachInput) -> AutoRenewState:
        self._apply(self.calendar.detach(input.quote_number))
        return self.state()

    @workflow.update(name=contract.RESERVE)
    def reserve(self, input: TermInput) -> ReserveResult:
        decision = self.calendar.reserve(input.holder, input.term_end, input.owner, workflow.now(), input.hold)
        refusal = self._apply(decision).answer
        return self._term_answer(input, refusal)

    @workflow.update(name=contract.RELEASE)
    def release(self, input: TermInput) -> AutoRenewState:
        self._apply(self.calendar.release(input.holder, input.term_end))
        return self.state()

    @workflow.update(name=contract.RENEW)
    def renew(self, input: RenewTermInput) -> RenewTermResult:
        decision = self.calendar.renew(
            input.holder,
            input.term_end,
            input.to_end_date,
            input.seats,
            input.term,
            workflow.now(),
            partner_csn=input.partner_csn,
            currency=input.currency,
        )
        refusal = self._apply(decision).answer
        if isinstance(refusal, TermRefusal):
            return RenewTermResult(
                renewed=False, reason=refusal.reason, retry_later=refusal.retry_later, state=self.state()
            )
        return RenewTermResult(renewed=True, state=self.state())

    @workflow.update(name=contract.SET_AUTO_RENEW)
    def set_auto_renew(self, input: SetAutoRenewInput) -> AutoRenewState:
        self._apply(self.calendar.set_auto_renew(input.on))
        return self.state()

    @set_auto_renew.validator
    def _validate_set_auto_renew(self, input: SetAutoRenewInput) -> None:
        refusal = self.calendar.set_auto_renew(input.on).refusal
        if refusal is not None:
            raise encoded(refusal)

    @workflow.signal(name=contract.AUTO_QUOTE_NOT_SENT)
    def auto_quote_not_sent(self, input: AutoQuoteNotSentInput) -> None:
        """The auto quote this calendar made could not be sent (its pricing failed, it stopped): recorded as
        not sent, shown in the details, never made again within the term (R12)."""
        self._apply(self.calendar.auto_quote_made(input.term_end, f"not sent: {input.reason}"))

    @workflow.signal(name=contract.SOURCE_CHANGED)
    async def source_changed(self, input: SourceChangedInput) -> None:
        """`renewals load` changed this subscription's row (sent with start, so it needs no worker to answer);
        taken once no payment holds the term."""
        await workflow.wait_condition(lambda: self.calendar.reservation is None)
        self._apply(self.calendar.source_changed(input.subscription, workflow.now(), input.switch_from_source))

    @workflow.update(name=contract.LOAD)
    async def load(self, input: SourceChangedInput) -> LoadAnswer:
        """`renewals load` changed this row and its term's auto quote may be due (R12): taken as the signal
        is, and the auto quote that makes due is made here, before the loop looks again (a new calendar's
        update runs before its loop starts), so the load hears exactly what it set in motion."""
        if self.calendar.reservation is not None:
            await workflow.wait_condition(lambda: self.calendar.reservation is None)
        self._apply(self.calendar.source_changed(input.subscription, workflow.now(), input.switch_from_source))
        answer = LoadAnswer(subscription_id=self.sub.id)
        if self.calendar.term_closed or self.calendar.next_step(workflow.now())[0] != "auto_quote":
            return answer
        return answer.model_copy(update={"auto_quote": await self._send_auto_quote()})

    def _term_answer(self, input: TermInput, refusal: object) -> ReserveResult:
        if not isinstance(refusal, TermRefusal):
            return ReserveResult(subscription_id=self.sub.id, granted=True, holder=input.holder, state=self.state())
        return ReserveResult(
            subscription_id=self.sub.id,
            granted=False,
            holder=refusal.holder,
            rule=refusal.rule,
            reason=refusal.reason,
            retry_later=refusal.retry_later,
        )

    # The calendar's own steps.

    async def _lapse(self) -> bool:
        """R01: the window closed and nothing renewed the term. True once it has lapsed for good; False when
        a load reopened it (renewed elsewhere) while its last deliveries were going out."""
        self._apply(self.calendar.start_lapse())
        await durable(
            CalendarActivities.record_lapse,
            RecordLapseInput(subscription_id=self.sub.id, end_date=self.sub.end_date),
        )
        self._apply(self.calendar.lapsed())
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.signals, *self.outbox)
        return not self.calendar.term_closed

    async def _auto_renew(self) -> None:
        """Same seats and term at the price-book price; the term is reserved while that is recorded, and
        claimed only once it was (R16). An outage is waited for; a business failure (no price) is recorded
        and claims nothing. A load that already moved the end date renewed it elsewhere: nothing is billed."""
        sub = self.sub
        self._apply(self.calendar.start_auto_renew(workflow.now()))
        try:
            renewal = await step(CalendarActivities.auto_renew, AutoRenewInput(subscription=sub))
        except ActivityError as err:
            reason = message_of(err)
            workflow.logger.warning("auto-renew of %s failed: %s", sub.id, reason)
            self._apply(self.calendar.auto_renew_failed(reason))
            await durable(
                CalendarActivities.record_auto_renew_failure,
                RecordAutoRenewFailureInput(subscription_id=sub.id, term_end=sub.end_date, reason=reason),
            )
            return
        if renewal.elsewhere is not None:
            self._apply(self.calendar.auto_renew_found_elsewhere(renewal.elsewhere, workflow.now()))
            return
        now = workflow.now()
        self._apply(self.calendar.auto_renewed(renewal.to_end_date, renewal.amount, renewal.promotion, now))

    def _send_auto_quote(self) -> "asyncio.Task[str]":
        """R12: one auto quote per term, made in the background so an outage never holds up the term's
        other dates; its number is fixed per term, so making it twice is harmless. The task gives its
        number, or `not sent: why`."""
        term_end = self.sub.end_date
        self._apply(self.calendar.auto_quote_started())

        async def make() -> str:
            try:
                created = await durable(
                    CalendarActivities.create_auto_quote,
                    CreateAutoQuoteInput(subscription_id=self.sub.id, term_end=term_end, today=workflow.now().date()),
                )
                outcome = created.quote_number
            except ActivityError as err:
                # Never retried within the term (R12: at most one auto quote); the reason shows in the details.
                outcome = f"not sent: {message_of(err)}"
                workflow.logger.warning("auto quote for %s %s", self.sub.id, outcome)
            self._apply(self.calendar.auto_quote_made(term_end, outcome))
            return outcome

        task = asyncio.create_task(make())
        self.signals.append(task)
        return task

    async def _supersede(self, effect: Supersede) -> None:
        try:
            quote = workflow.get_external_workflow_handle(quote_contract.workflow_id(effect.quote))
            await quote.signal(quote_contract.SUPERSEDE, SupersedeInput(reason=effect.reason, detail=effect.detail))
        except FailureError:
            workflow.logger.info("quote %s had ended before it could be superseded", effect.quote)

    def _confirm(self, effect: ConfirmRenewal) -> None:
        """The auto-renewal's email; one that cannot be sent is logged, never undoes or repeats the renewal."""

        async def send() -> None:
            confirmation = SendRenewalEmailInput(
                subscription=effect.subscription,
                to_end_date=effect.to_end_date,
                amount=effect.amount,
                promotion=effect.promotion,
            )
            try:
                await step(CalendarActivities.send_renewal_email, confirmation, timeout=timedelta(seconds=30))
            except ActivityError as err:
                workflow.logger.warning("renewal email for %s not sent: %s", effect.subscription.id, message_of(err))

        task = asyncio.create_task(send())
        self.confirming = (effect, task)
        self.outbox.append(task)

    async def _finish_run(self) -> None:
        """Before the next run: the superseded quotes are told; the webhooks and the renewal's email get a
        minute, and whatever is still going on then is carried to the next run (a receiver down for days
        never holds up the next term)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.signals)
        try:
            await workflow.wait_condition(lambda: all(task.done() for task in self.outbox), timeout=FINISH_WAIT)
        except TimeoutError:
            pass
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _left_over(self) -> dict:
        unconfirmed = self.confirming[0] if self.confirming and not self.confirming[1].done() else None
        return {"undelivered": self.announcer.undelivered(), "unconfirmed": unconfirmed}
