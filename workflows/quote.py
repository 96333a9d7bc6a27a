"""QuoteWorkflow: one renewal quote from draft to paid, expired or cancelled (docs/rules.md, Lifecycle).

Every decision is the pure aggregate's (domain/quote_aggregate.py): this workflow holds the lock, takes the
new state, runs the effects as activities (workflows/quote_effects.py) and feeds the replies back. Each
change is an update whose validator asks the aggregate first, so a refused action never enters history.
The expiry timer (R15) and the reminders' (R22) race the buyer's actions.
"""

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from contracts import quote as contract
    from contracts import subscription as subscription_contract
    from contracts.failures import fail
    from contracts.quote import (
        AcceptInput,
        AnswerInput,
        CancelInput,
        EditInput,
        ExtendInput,
        PayInput,
        PricedInput,
        QuoteInput,
        QuoteResult,
        ReplaceInput,
        ResendInput,
        SendInput,
        SupersedeInput,
        search_attributes,
    )
    from contracts.refusals import encoded, stop
    from contracts.subscription import AutoQuoteNotSentInput
    from domain.decisions import Decision
    from domain.quote_aggregate import PayCommand, QuoteAggregate
    from domain.quote_effects import ASKING, Replaced, Save
    from domain.quotes import Quote, QuoteState
    from workflows.quote_effects import QuoteEffects, StepFailed

Decide = Callable[[datetime], Decision[QuoteAggregate]]


@workflow.defn(name=contract.WORKFLOW)
class QuoteWorkflow:
    @workflow.init
    def __init__(self, input: QuoteInput) -> None:
        self.agg = QuoteAggregate.new(input.quote, input.reminder_days)
        self.lock = asyncio.Lock()
        self.effects = QuoteEffects(input.quote, list(input.webhooks), self._publish)
        self.payment_wait = input.payment_wait
        self.reminding: asyncio.Task[None] | None = None
        self.failed: StepFailed | None = None  # what stopped it

    @workflow.run
    async def run(self, input: QuoteInput) -> QuoteResult:
        self._publish()
        async with self.lock:
            await self._apply(self.agg.start(workflow.now()))
        async with self.lock:  # a cancel that came while it attached goes first
            await self._apply(self.agg.price_first(workflow.now()))
            if input.send:
                await self._send_itself()
        await self._expire_unless_ended()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.effects.drain()
        if self.failed is not None:  # settled already: it fails with what stopped it (the UI, `renewals ops stuck`)
            fail(self.failed.kind, self.failed.message)
        return QuoteResult(number=self.agg.quote.number, state=self.agg.quote.state, renewed=self.agg.renewed)

    # Taking a decision: the state, then the effects in order, then the reply to the asking one.

    async def _apply(self, decision: Decision[QuoteAggregate]) -> Decision[QuoteAggregate]:
        """The last decision of the chain, with the first answer given on the way (the caller's)."""
        answer = decision.answer
        while True:
            self._take(decision.state)
            reply = None
            try:
                for effect in decision.effects:
                    reply = await self.effects.run(effect)
            except StepFailed as err:
                self.failed = err
                return await self._stop(str(err))
            if reply is None or not isinstance(decision.effects[-1], ASKING):
                return dataclasses.replace(decision, answer=decision.answer or answer)
            decision = self.agg.on(reply, workflow.now())  # only the last effect may ask
            answer = answer or decision.answer

    async def _stop(self, reason: str) -> Decision[QuoteAggregate]:
        """A business failure nothing decides about: settled as any ending, then the quote says why."""
        workflow.logger.warning("quote %s cannot go on: %s", self.agg.quote.number, reason)
        decision = await self._apply(self.agg.stop(reason))
        workflow.set_current_details(f"{self.agg.quote.details()} · stopped: {reason}")
        return decision

    def _take(self, state: QuoteAggregate) -> None:
        self.agg = state
        self.effects.quote = state.quote
        workflow.set_current_details(state.quote.details())

    async def _decide(self, decide: Decide) -> Decision[QuoteAggregate]:
        """Under the lock: the decision taken on the quote as it is once the lock is had; a refusal raised."""
        async with self.lock:
            if self.agg.stopped is not None:
                stop(f"quote {self.agg.quote.number} cannot go on: {self.agg.stopped}")
            decision = await self._apply(decide(workflow.now()))
        if self.agg.stopped is not None:
            stop(f"quote {self.agg.quote.number} cannot go on: {self.agg.stopped}")
        if decision.refusal is not None:
            raise encoded(decision.refusal)
        return decision

    def _validate(self, decision: Decision[QuoteAggregate]) -> None:
        """A validator asks the aggregate (pure: nothing changes) and refuses what it refuses."""
        if decision.refusal is not None:
            raise encoded(decision.refusal)

    # The buyer's, the partner's and the system's actions.

    @workflow.query(name=contract.STATE)
    def state(self) -> Quote:
        return self.agg.quote

    @workflow.update(name=contract.PRICED)
    async def priced(self, input: PricedInput) -> Quote:
        """Returns the quote once its first pricing is done: what `quote create` prints."""
        await self._first_pricing()
        return self.agg.quote

    @workflow.update(name=contract.SEND)
    async def send(self, input: SendInput) -> Quote:
        await self._first_pricing()
        await self._decide(lambda now: self.agg.send(now, input.by))
        return self.agg.quote

    @send.validator
    def _validate_send(self, input: SendInput) -> None:
        self._validate(self.agg.send(workflow.now(), input.by))

    @workflow.update(name=contract.ACCEPT)
    async def accept(self, input: AcceptInput) -> Quote:
        """Accept; with `pay`, "Accept and pay": one buyer action, both steps in order."""
        if input.pay:
            return await self._start_payment(input, accepting=True)
        await self._decide(lambda now: self.agg.accept(now, input.by, input.bank_transfer, input.purchase_order))
        return self.agg.quote

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        now = workflow.now()
        if input.pay:
            self._validate(self.agg.pay(now, _command(input), True))
        else:
            self._validate(self.agg.accept(now, input.by, input.bank_transfer, input.purchase_order))

    @workflow.update(name=contract.PAY)
    async def pay(self, input: PayInput) -> Quote:
        return await self._start_payment(input, accepting=False)

    @pay.validator
    def _validate_pay(self, input: PayInput) -> None:
        self._validate(self.agg.pay(workflow.now(), _command(input), False))

    @workflow.update(name=contract.CANCEL)
    async def cancel(self, input: CancelInput) -> Quote:
        await self._decide(lambda now: self.agg.cancel(now, input.by, input.actor))
        return self.agg.quote

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        self._validate(self.agg.cancel(workflow.now(), input.by, input.actor))

    @workflow.update(name=contract.ANSWER)
    async def answer(self, input: AnswerInput) -> Quote:
        """R26: the buyer asks for changes or declines; the answer is kept, written, announced and emailed to
        the quote's maker. The quote's state does not change."""
        await self._decide(lambda now: self.agg.answer(now, input.kind, input.message, input.reason, input.by))
        return self.agg.quote

    @answer.validator
    def _validate_answer(self, input: AnswerInput) -> None:
        self._validate(self.agg.answer(workflow.now(), input.kind, input.message, input.reason, input.by))

    @workflow.update(name=contract.EXTEND)
    async def extend(self, input: ExtendInput) -> Quote:
        """A later expiry (R15); the timer and the reminders follow it."""
        await self._decide(lambda now: self.agg.extend(now, input.until, input.by))
        return self.agg.quote

    @extend.validator
    def _validate_extend(self, input: ExtendInput) -> None:
        self._validate(self.agg.extend(workflow.now(), input.until, input.by))

    @workflow.update(name=contract.RESEND)
    async def resend(self, input: ResendInput) -> Quote:
        """The quote's email again, to every recipient or the ones named."""
        await self._decide(lambda now: self.agg.resend(now, input.to, input.by))
        return self.agg.quote

    @resend.validator
    def _validate_resend(self, input: ResendInput) -> None:
        self._validate(self.agg.resend(workflow.now(), input.to, input.by))

    @workflow.update(name=contract.EDIT)
    async def edit(self, input: EditInput) -> Quote:
        """Draft edits: seats, term, a line left out, recipients, address; then priced again."""
        await self._first_pricing()
        await self._decide(lambda now: self.agg.edit(now, input))
        return self.agg.quote

    @edit.validator
    def _validate_edit(self, input: EditInput) -> None:
        self._validate(self.agg.edit(workflow.now(), input))

    @workflow.update(name=contract.REPLACE)
    async def replace(self, input: ReplaceInput) -> Replaced:
        """R23: the revision is being sent; this quote steps aside unless its buyer accepted it."""
        decision = await self._decide(lambda now: self.agg.replace(now, input.revision))
        assert isinstance(decision.answer, Replaced)
        return decision.answer

    @workflow.signal(name=contract.SUPERSEDE)
    async def supersede(self, input: SupersedeInput) -> None:
        """A term of this quote was renewed another way (R16) or moved owner (R21)."""
        async with self.lock:
            if not self.agg.quote.state.terminal:
                workflow.logger.info("quote %s cancelled by the system: %s", self.agg.quote.number, input.reason)
            await self._apply(self.agg.supersede(workflow.now(), input.reason, input.detail))

    @workflow.signal(name=contract.CHECK_PAYMENT)
    def check_payment(self) -> None:
        """The provider decided a payment (R20): a pending one is asked now; otherwise nothing happens."""
        self.effects.news = True

    async def _send_itself(self) -> None:
        """An auto quote (R12) sends itself once priced; one that cannot (a missing price, it stopped) tells
        the calendar that made it, which records it as not sent and goes on with the term."""
        reason = self.agg.stopped
        if reason is None:
            decision = await self._apply(self.agg.send(workflow.now()))
            reason = self.agg.stopped or (decision.refusal.message if decision.refusal is not None else None)
        line = next((line for line in self.agg.quote.lines if line.subscription_id and line.end_date), None)
        if reason is None or line is None or line.subscription_id is None or line.end_date is None:
            return
        workflow.logger.warning("auto quote %s not sent: %s", self.agg.quote.number, reason)
        calendar = workflow.get_external_workflow_handle(subscription_contract.workflow_id(line.subscription_id))
        try:
            await calendar.signal(
                subscription_contract.AUTO_QUOTE_NOT_SENT,
                AutoQuoteNotSentInput(term_end=line.end_date, reason=f"quote {self.agg.quote.number}: {reason}"),
            )
        except FailureError:
            workflow.logger.info("the calendar of %s had ended before it heard", line.subscription_id)

    async def _first_pricing(self) -> None:
        """Waits for the first pricing, written (the lock is let go once its write is done: a page then reads
        the quote from the store); a quote that stopped before it says why."""
        await workflow.wait_condition(lambda: self.agg.priced or self.agg.stopped is not None)
        async with self.lock:
            pass
        if not self.agg.priced:
            stop(f"quote {self.agg.quote.number} cannot go on: {self.agg.stopped}")

    async def _start_payment(self, input: PayInput, accepting: bool) -> Quote:
        """The buyer waits for the payment up to `payment_wait` (20 s). One still going on then (a provider that is
        down, a charge whose answer was lost) goes on without them: the quote says its payment is pending."""
        command = _command(input)
        payment = asyncio.create_task(self._decide(lambda now: self.agg.pay(now, command, accepting)))
        self.effects.outbox.append(payment)
        try:
            # A buyer to authenticate at their bank (3-D Secure) is sent there once the quote saying so is written.
            await workflow.wait_condition(
                lambda: (
                    payment.done()
                    or (
                        self.agg.quote.payment_action_url is not None
                        and self.effects.written == self.agg.quote.revision
                    )
                ),
                timeout=self.payment_wait,
            )
            if not payment.done():
                return self.agg.quote
        except TimeoutError:
            overdue = self.agg.payment_overdue()  # written in the background: the store may be down
            self._take(overdue.state)
            self.effects.outbox.extend(asyncio.create_task(self.effects.run(e)) for e in overdue.effects)
            return self.agg.quote
        payment.result()
        return self.agg.quote

    # The expiry (R15) and the reminders (R22).

    async def _expire_unless_ended(self) -> None:
        """The timer races the buyer; a send moves it. Before it, the reminders' timers, each woken again by
        any change of state or expiry."""
        while not self.agg.quote.state.terminal and self.agg.stopped is None:
            quote = self.agg.quote
            assert quote.expires_at is not None
            seen = (quote.state, quote.expires_at)
            reminder = self.agg.next_reminder()
            wake = min(reminder[0], quote.expires_at) if reminder else quote.expires_at
            remaining = wake - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(functools.partial(self._changed_since, seen), timeout=remaining)
                except TimeoutError:
                    pass
                continue
            if reminder and workflow.now() < quote.expires_at:
                self._start_reminder(reminder[1])
                continue
            await _drop(self.reminding)
            async with self.lock:
                await self._apply(self.agg.expire(workflow.now()))

    def _changed_since(self, seen: tuple[QuoteState, datetime | None]) -> bool:
        quote = self.agg.quote
        return quote.state.terminal or self.agg.stopped is not None or (quote.state, quote.expires_at) != seen

    def _start_reminder(self, days: int) -> None:
        """The reminder goes on beside the expiry's timer: a store that is down while it is written never holds
        up the expiry; one still unwritten when the next is due, or the quote expires, is dropped."""
        self._take(self.agg.reminder_due(days).state)
        earlier = self.reminding
        self.reminding = asyncio.create_task(self._remind(days, earlier))
        self.effects.outbox.append(self.reminding)

    async def _remind(self, days: int, earlier: "asyncio.Task[None] | None") -> None:
        await _drop(earlier)
        async with self.lock:
            decision = self.agg.remind(days)
            self._take(decision.state)
            for effect in decision.effects:
                try:
                    await self.effects.run(effect)
                except asyncio.CancelledError:
                    if isinstance(effect, Save):  # dropped before it was written: no email, not reminded
                        self._take(self.agg.unremind(days).state)
                    raise

    def _publish(self) -> None:
        """Upsert the search attributes that changed since the last upsert (or the start)."""
        current = workflow.info().typed_search_attributes
        changed = [pair for pair in search_attributes(self.agg.quote) if current.get(pair.key) != pair.value]
        if changed:
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in changed])


def _command(input: PayInput) -> PayCommand:
    return PayCommand(
        purchase_order=input.purchase_order if isinstance(input, AcceptInput) else None,
        payment_method=input.payment_method,
        reference=input.payment_reference,
        by=input.by,
        amount=input.amount,
        currency=input.currency,
        received_on=input.received_on,
    )


async def _drop(reminder: "asyncio.Task[None] | None") -> None:
    """A reminder not yet done is dropped: cancelled, and waited for until it has let go of the lock."""
    if reminder is not None and not reminder.done():
        reminder.cancel()
        await asyncio.gather(reminder, return_exceptions=True)
