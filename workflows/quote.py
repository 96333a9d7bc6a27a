"""QuoteWorkflow: one renewal quote from draft to paid, expired or cancelled (docs/rules.md, Lifecycle).

Every change is an update whose validator refuses what the rules forbid (domain/quote_lifecycle.py), so
a refused action never enters history. The expiry timer (R15) races the buyer's actions, drafts
included. Paying is a small saga (R16): reserve every term at its calendar, charge once per quote,
renew, confirm. Whatever ends the quote, the auto-renew holds it took (R02, R17) are released (R03).

State: the quote, and `Progress`, what the workflow did about it. Store writes, pricing, calendar calls
and payment steps are local activities (workflows/quote_steps.py); emails and webhooks run in the background
(the outbox), so an SMTP or receiver outage never blocks the buyer's next step.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.email import Purpose
    from contracts import quote as contract
    from contracts.quote import (
        AcceptInput,
        CancelInput,
        EditInput,
        PayInput,
        PricedInput,
        QuoteInput,
        QuoteResult,
        SendInput,
        SupersedeInput,
        search_attributes,
    )
    from contracts.refusals import checked, refuse, stop
    from domain import quote_lifecycle as lifecycle
    from domain.quote_rules import apply_line_changes, check_recipients
    from domain.quotes import Quote, QuoteState
    from workflows import quote_steps as steps
    from workflows.steps import failure_message, failure_type
    from workflows.webhooks import Announcer

# The steps a backend system hears of, by webhook (`quote.<step>`).
ANNOUNCED = ("sent", "accepted", "paid", "expired", "cancelled")


class Step(BaseModel):
    """A step taken but not yet written: written (and announced, as the quote was then) with the next."""

    event: str
    quote: Quote


class Progress(BaseModel):
    """What the workflow did about its quote, beside the quote itself."""

    priced: bool = False  # the first pricing is done (or failed for a missing price)
    attached: dict[str, bool] = {}  # subscription -> whether this quote holds its auto-renew
    renewed: dict[str, str] = {}  # subscription -> its new end date
    charge_unknown: bool = False  # a charge whose outcome was never known: refunded if the quote ends unpaid
    stopped: str | None = None  # why the quote cannot go on
    unwritten: list[Step] = []  # the quote's creation until its first write; accept, in accept and pay


@workflow.defn(name=contract.WORKFLOW)
class QuoteWorkflow:
    @workflow.init
    def __init__(self, input: QuoteInput) -> None:
        self.quote = input.quote
        self.progress = Progress(unwritten=[Step(event="created", quote=input.quote)])
        self.lock = asyncio.Lock()
        self.outbox: list[asyncio.Task] = []
        self.announcer = Announcer(list(input.webhooks))

    @workflow.run
    async def run(self, input: QuoteInput) -> QuoteResult:
        try:
            return await self._run()
        except ActivityError as err:
            # It cannot go on: the UI row (and `renewals ops stuck`) says why, and waiting callers hear it.
            self.progress.stopped = str(err.cause or err)
            workflow.set_current_details(f"{self.quote.details()} · stopped: {self.progress.stopped}")
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise

    async def _run(self) -> QuoteResult:
        if self.quote.expires_at is None:
            self.quote = self.quote.model_copy(update={"expires_at": self.quote.expiry_for(workflow.now())})
        workflow.set_current_details(self.quote.details())
        self._publish()
        await self._attach()
        async with self.lock:
            if not self.quote.state.terminal:  # a quote cancelled while it was attaching is never priced
                await self._price()
            self.progress.priced = True
        await self._expire_unless_ended()
        await self._settle()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.outbox, return_exceptions=True)
        return QuoteResult(number=self.quote.number, state=self.quote.state, renewed=self.progress.renewed)

    async def _expire_unless_ended(self) -> None:
        """R15: the timer races the buyer; a send moves it (validity starts when sent)."""
        while not self.quote.state.terminal:
            assert self.quote.expires_at is not None
            remaining = self.quote.expires_at - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.quote.state.terminal, timeout=remaining)
                except TimeoutError:
                    pass
                continue
            async with self.lock:
                if not self.quote.state.terminal:
                    self._change(state=QuoteState.EXPIRED, ended_at=workflow.now())
                    await self._save("expired")

    @workflow.query(name=contract.STATE)
    def state(self) -> Quote:
        return self.quote

    @workflow.update(name=contract.PRICED)
    async def priced(self, input: PricedInput) -> Quote:
        """Returns the quote once its first pricing is done: what `quote create` prints."""
        await self._first_pricing()
        return self.quote

    @workflow.update(name=contract.SEND)
    async def send(self, input: SendInput) -> Quote:
        await self._first_pricing()
        async with self.lock:
            checked(lifecycle.check_send, self.quote, workflow.now())
            now = workflow.now()
            self._change(state=QuoteState.SENT, sent_at=now, expires_at=self.quote.expiry_for(now))
            await self._save("sent", {"recipients": self.quote.all_recipients})
        self._send_mail("quote")
        return self.quote

    @send.validator
    def _validate_send(self, input: SendInput) -> None:
        checked(lifecycle.check_send, self.quote, workflow.now())

    @workflow.update(name=contract.ACCEPT)
    async def accept(self, input: AcceptInput) -> Quote:
        """Accept; with `pay`, "Accept and pay": one buyer action, both steps in order, written once
        (when paid, or when the payment fails)."""
        async with self.lock:
            checked(lifecycle.check_accept, self.quote, workflow.now(), input.pay)
            if self.quote.state is QuoteState.SENT:
                self._change(state=QuoteState.ACCEPTED, accepted_at=workflow.now())
                if input.pay:
                    self.progress.unwritten.append(Step(event="accepted", quote=self.quote))
                else:
                    await self._save("accepted")
                    await self._attach()  # R17: an accepted quote holds auto-renew
            if input.pay:
                try:
                    await self._pay(input)
                except ApplicationError:
                    if self.progress.unwritten:  # refused or declined: written as accepted
                        await self._save()
                    raise
        return self.quote

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        checked(lifecycle.check_accept, self.quote, workflow.now(), input.pay)

    @workflow.update(name=contract.PAY)
    async def pay(self, input: PayInput) -> Quote:
        async with self.lock:
            checked(lifecycle.check_pay, self.quote, workflow.now())
            await self._pay(input)
        return self.quote

    @pay.validator
    def _validate_pay(self, input: PayInput) -> None:
        checked(lifecycle.check_pay, self.quote, workflow.now())

    @workflow.update(name=contract.CANCEL)
    async def cancel(self, input: CancelInput) -> Quote:
        async with self.lock:
            checked(lifecycle.check_cancel, self.quote, input.by)
            self._change(state=QuoteState.CANCELLED, cancelled_by=input.by, ended_at=workflow.now())
            await self._save("cancelled", {"by": input.by})
        return self.quote

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        checked(lifecycle.check_cancel, self.quote, input.by)

    @workflow.signal(name=contract.SUPERSEDE)
    async def supersede(self, input: SupersedeInput) -> None:
        """A term of this quote was renewed another way (R16): cancelled by the system, recipients told."""
        async with self.lock:
            if self.quote.state.terminal:
                return
            self._change(
                state=QuoteState.CANCELLED,
                cancelled_by="system",
                cancel_reason=input.reason,
                superseded_because=input.detail,
                ended_at=workflow.now(),
            )
            await self._save("cancelled", {"by": "system", "reason": input.reason, "detail": input.detail})
            if self.quote.sent_at is not None:
                self._send_mail("superseded")

    @workflow.update(name=contract.EDIT)
    async def edit(self, input: EditInput) -> Quote:
        """Draft edits: seats, term, a line left out, recipients, address; then priced again."""
        await self._first_pricing()
        async with self.lock:
            kept = checked(lifecycle.check_edit, self.quote, workflow.now(), input)
            self._change(
                lines=apply_line_changes(kept, input.seats, input.terms),
                recipients=(
                    self.quote.recipients
                    if input.recipients is None
                    else check_recipients(input.recipients, self.quote.buyer_email)
                ),
                address=input.address or self.quote.address,
            )
            await self._save("edited", input.model_dump(mode="json", exclude_defaults=True))
            await self._detach([sub for sub in self.progress.attached if sub in input.exclude], paid=False)
            await self._attach()
            await self._price()
        return self.quote

    @edit.validator
    def _validate_edit(self, input: EditInput) -> None:
        checked(lifecycle.check_edit, self.quote, workflow.now(), input)

    async def _first_pricing(self) -> None:
        """Waits for the first pricing; a quote that stopped before it says why."""
        await workflow.wait_condition(lambda: self.progress.priced or self.progress.stopped is not None)
        if not self.progress.priced:
            stop(f"quote {self.quote.number} cannot go on: {self.progress.stopped}")

    # The payment saga (R16).

    async def _pay(self, payment: PayInput) -> None:
        """Reserve every term, charge once (key quote-<number>), renew, mark paid, confirm. Nothing is
        charged for a term someone else has; a failed charge releases the terms and leaves the quote
        accepted, holding auto-renew (R17)."""
        terms = steps.terms_of(self.quote)
        if terms:
            await self._reserve(terms)
        try:
            paid = await steps.charge(self.quote, payment)
        except ActivityError as err:
            declined = failure_type(err) == "PaymentDeclined"
            self.progress.charge_unknown |= not declined and payment.payment_method is not None
            if self.quote.state is QuoteState.ACCEPTED:
                await self._attach()
            await steps.release(self.quote, terms)
            if declined:
                raise ApplicationError(
                    f"{failure_message(err)}; nothing was charged", type="PaymentDeclined", non_retryable=True
                ) from None
            raise ApplicationError(
                "the payment could not be completed; nothing was charged, please try again",
                type="PaymentFailed",
                non_retryable=True,
            ) from None
        await self._renew(terms)
        for line_no, line in enumerate(self.quote.lines, start=1):
            if line.subscription_id is None:
                created = await steps.create_subscription(self.quote, line_no, line, workflow.now().date())
                self.progress.renewed[created.subscription_id] = created.end_date.isoformat()
        now = workflow.now()
        self._change(state=QuoteState.PAID, paid_at=now, payment_reference=paid.reference, ended_at=now)
        await self._save("paid", {"reference": paid.reference, "renewed": self.progress.renewed})
        self._send_mail("paid")

    async def _reserve(self, terms: list[steps.TermRef]) -> None:
        """Each term granted to this quote, or the payment refused with who has it (nothing charged)."""
        try:
            reserved = await steps.reserve(self.quote, terms)
        except ActivityError:
            await steps.release(self.quote, terms)
            raise
        if reserved.refused:
            await steps.release(self.quote, terms)
            first = reserved.refused[0]
            ending = "try again in a moment" if first.retry_later else "this quote can no longer be paid"
            refuse(first.rule or "R16", f"{first.reason}; {ending}")

    async def _renew(self, terms: list[steps.TermRef]) -> None:
        result = await steps.renew(self.quote)
        for sub_id, end_date in result.renewed.items():
            self.progress.renewed[sub_id] = end_date.isoformat()
            self.progress.attached.pop(sub_id, None)
        if result.not_renewed:
            # A reserved term always renews; should one not, the buyer gets the money back.
            await steps.refund(self.quote)
            await steps.release(self.quote, terms)
            refuse("R16", f"{'; '.join(result.not_renewed.values())}; the payment was refunded")

    # The other steps.

    async def _price(self) -> None:
        try:
            priced = await steps.price(self.quote, workflow.now().date())
        except ActivityError as err:
            if failure_type(err) != "MissingPrice":
                raise
            self._change(pricing_error=failure_message(err))
            await self._save("pricing failed", {"reason": self.quote.pricing_error})
            return
        self._change(
            lines=priced.lines,
            subtotal=priced.subtotal,
            discount_total=priced.discount_total,
            total=priced.total,
            pricing_error=None,
        )
        await self._save("priced", {"total": str(priced.total)})

    async def _settle(self) -> None:
        """The quote ended: paid turns auto-renew back on (R03), anything else returns it to its value
        before, and a charge whose outcome was never known is refunded."""
        paid = self.quote.state is QuoteState.PAID
        await self._detach(list(self.progress.attached), paid=paid)
        if not paid and self.progress.charge_unknown:
            await steps.refund(self.quote)

    async def _attach(self) -> None:
        """Tell each subscription this quote is pending, holding auto-renew if it changes them (R02)."""
        hold = self.quote.holds_auto_renew
        attached = self.progress.attached
        todo = [
            line.subscription_id
            for line in self.quote.lines
            if line.subscription_id
            and (line.subscription_id not in attached or (hold and not attached[line.subscription_id]))
        ]
        await steps.attach(self.quote, todo, hold)
        attached.update({sub: hold for sub in todo})

    async def _detach(self, subscription_ids: list[str], paid: bool) -> None:
        await steps.detach(self.quote, subscription_ids, paid)
        for sub in subscription_ids:
            self.progress.attached.pop(sub, None)

    def _send_mail(self, purpose: Purpose) -> None:
        self.outbox.append(steps.send_emails(self.quote, purpose))

    def _change(self, **changes) -> None:
        self.quote = self.quote.model_copy(update={**changes, "revision": self.quote.revision + 1})
        workflow.set_current_details(self.quote.details())

    async def _save(self, event: str | None = None, detail: dict | None = None) -> None:
        """One write per step, with the steps taken since the last write (the quote's `created`, an
        accept paid at once); then the search attributes and the webhooks follow what was written."""
        taken = [*self.progress.unwritten, *([Step(event=event, quote=self.quote)] if event else [])]
        *earlier, last = taken
        await steps.save(self.quote, last.event, detail or {}, [step.event for step in earlier])
        self.progress.unwritten = []
        self._publish()
        for step in taken:
            if step.event in ANNOUNCED:
                delivery = self.announcer.announce(f"quote.{step.event}", step.quote.json_view())  # type: ignore[arg-type]
                if delivery is not None:
                    self.outbox.append(delivery)

    def _publish(self) -> None:
        """Upsert the search attributes that changed since the last upsert (or the start)."""
        current = workflow.info().typed_search_attributes
        changed = [pair for pair in search_attributes(self.quote) if current.get(pair.key) != pair.value]
        if changed:
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in changed])
