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
import functools
from datetime import datetime, timedelta
from typing import NoReturn

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.email import Purpose
    from activities.payments import DECLINED, REFUNDED, UNKNOWN
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
ANNOUNCED = ("sent", "accepted", "paid", "expired", "cancelled", "reminded")


class Step(BaseModel):
    """A step taken but not yet written: written (and announced, as the quote was then) with the next."""

    event: str
    quote: Quote


class Progress(BaseModel):
    """What the workflow did about its quote, beside the quote itself."""

    priced: bool = False  # the first pricing is done (or failed for a missing price)
    attached: dict[str, bool] = {}  # subscription -> whether this quote holds its auto-renew
    renewed: dict[str, str] = {}  # subscription -> its new end date
    paying: bool = False  # a payment is going on: no other payment, no cancel (R20)
    charged: bool = False  # money taken and not yet renewed for: refunded if the quote ends unpaid
    stopped: str | None = None  # why the quote cannot go on
    reminders_due: list[int] = []  # R22: days before expiry still to remind on (those passed are dropped)
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
        self.payment_wait = input.payment_wait
        self.reminding: asyncio.Task[None] | None = None
        self.progress.reminders_due = sorted(input.reminder_days, reverse=True)

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
        """R15: the timer races the buyer; a send moves it (validity starts when sent). Before it, the
        reminders' timers (R22), each woken again by any change of state or expiry."""
        while not self.quote.state.terminal:
            assert self.quote.expires_at is not None
            seen = (self.quote.state, self.quote.expires_at)
            reminder = self._next_reminder()
            wake = min(reminder[0], self.quote.expires_at) if reminder else self.quote.expires_at
            remaining = wake - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(functools.partial(self._changed_since, seen), timeout=remaining)
                except TimeoutError:
                    pass
                continue
            if reminder and workflow.now() < self.quote.expires_at:
                self._start_reminder(reminder[1])
                continue
            await _drop(self.reminding)
            async with self.lock:
                if not self.quote.state.terminal:
                    self._change(state=QuoteState.EXPIRED, ended_at=workflow.now())
                    await self._save("expired")

    def _changed_since(self, seen: tuple[QuoteState, datetime | None]) -> bool:
        return self.quote.state.terminal or (self.quote.state, self.quote.expires_at) != seen

    def _next_reminder(self) -> tuple[datetime, int] | None:
        """R22: when the next reminder is due, and its days before expiry. Only a sent or accepted quote is
        reminded, and only of days after it was sent (a quote sent 3 days before it expires gets no
        "7 days" reminder)."""
        quote = self.quote
        if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED) or quote.sent_at is None:
            return None
        assert quote.expires_at is not None
        for days in self.progress.reminders_due:
            at = quote.expires_at - timedelta(days=days)
            if at >= quote.sent_at and days not in quote.reminded:
                return at, days
        return None

    def _start_reminder(self, days: int) -> None:
        """The reminder goes on beside the expiry's timer: a store that is down while it is written never
        holds up the expiry; a reminder still unwritten when the next one is due, or the quote expires, is
        dropped (it would come too late)."""
        self.progress.reminders_due = [d for d in self.progress.reminders_due if d < days]
        earlier = self.reminding
        self.reminding = asyncio.create_task(self._remind(days, earlier))
        self.outbox.append(self.reminding)

    async def _remind(self, days: int, earlier: "asyncio.Task[None] | None") -> None:
        """One reminder to every recipient, once (R22): to accept a sent quote, to pay an accepted one; none
        while a payment is being confirmed (R20), and none after the quote changed while this waited."""
        await _drop(earlier)
        async with self.lock:
            state = self.quote.state
            if state not in (QuoteState.SENT, QuoteState.ACCEPTED) or self.progress.paying or self.quote.payment:
                return
            purpose: Purpose = "reminder" if state is QuoteState.SENT else "pay_reminder"
            self._change(reminded=[*self.quote.reminded, days])
            try:
                await self._save(
                    "reminded", {"days": days, "purpose": purpose, "recipients": self.quote.all_recipients}
                )
            except asyncio.CancelledError:
                # Dropped before it was written: no email, and the quote does not say it was reminded.
                self._change(reminded=[d for d in self.quote.reminded if d != days])
                raise
            self.outbox.append(steps.send_emails(self.quote, purpose, days))

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
            await self._save("sent", {"recipients": self.quote.all_recipients, **_by(input.by)})
        self._send_mail("quote")
        if self.quote.revises:
            await self._replace_original(self.quote.revises)
        return self.quote

    async def _replace_original(self, original: str) -> None:
        """R23: the revision is sent, so the quote it revises is cancelled by the system. This quote has held
        auto-renew since it started, so the original's release leaves it held (no moment without a hold)."""
        handle = workflow.get_external_workflow_handle(contract.workflow_id(original))
        replaced = SupersedeInput(
            reason=f"revised by {self.quote.number}",
            detail=f"Quote {self.quote.number} replaces it",
            revised_by=self.quote.number,
        )
        try:
            await handle.signal(contract.SUPERSEDE, replaced)
        except FailureError:
            workflow.logger.info("quote %s: %s had already ended", self.quote.number, original)

    @send.validator
    def _validate_send(self, input: SendInput) -> None:
        checked(lifecycle.check_send, self.quote, workflow.now())

    @workflow.update(name=contract.ACCEPT)
    async def accept(self, input: AcceptInput) -> Quote:
        """Accept; with `pay`, "Accept and pay": one buyer action, both steps in order, written once
        (when paid, or when the payment fails)."""
        if input.pay:
            return await self._start_payment(input, accepting=True)
        async with self.lock:
            checked(lifecycle.check_accept, self.quote, workflow.now(), False)
            self._change(state=QuoteState.ACCEPTED, accepted_at=workflow.now())
            await self._save("accepted", _by(input.by))
            await self._attach()  # R17: an accepted quote holds auto-renew
        return self.quote

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        if input.pay:
            self._check_not_paying()
        checked(lifecycle.check_accept, self.quote, workflow.now(), input.pay)

    @workflow.update(name=contract.PAY)
    async def pay(self, input: PayInput) -> Quote:
        return await self._start_payment(input, accepting=False)

    @pay.validator
    def _validate_pay(self, input: PayInput) -> None:
        self._check_not_paying()
        checked(lifecycle.check_pay, self.quote, workflow.now())

    @workflow.update(name=contract.CANCEL)
    async def cancel(self, input: CancelInput) -> Quote:
        self._check_not_paying()
        async with self.lock:
            checked(lifecycle.check_cancel, self.quote, input.by)
            self._change(state=QuoteState.CANCELLED, cancelled_by=input.by, ended_at=workflow.now())
            await self._save("cancelled", {"by": input.by, **_by(input.actor, "actor")})
        return self.quote

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        self._check_not_paying()
        checked(lifecycle.check_cancel, self.quote, input.by)

    @workflow.signal(name=contract.SUPERSEDE)
    async def supersede(self, input: SupersedeInput) -> None:
        """A term of this quote was renewed another way (R16): cancelled by the system, recipients told."""
        async with self.lock:
            if self.quote.state.terminal:
                return
            if input.revised_by and self.quote.state is not QuoteState.SENT:
                # R23: the buyer accepted this quote before its revision went out: theirs stands.
                workflow.logger.info(
                    "quote %s was accepted; %s does not replace it", self.quote.number, input.revised_by
                )
                return
            self._change(
                state=QuoteState.CANCELLED,
                cancelled_by="system",
                cancel_reason=input.reason,
                superseded_because=input.detail,
                revised_by=input.revised_by,
                ended_at=workflow.now(),
            )
            workflow.logger.info("quote %s cancelled by the system: %s", self.quote.number, input.reason)
            revised = {"revised_by": input.revised_by} if input.revised_by else {}
            await self._save("cancelled", {"by": "system", "reason": input.reason, "detail": input.detail, **revised})
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

    # The payment saga (R16, R20).

    def _check_not_paying(self) -> None:
        """R20: while a payment is going on, no other payment (card or offline) and no cancel."""
        if self.progress.paying:
            refuse("R20", f"a payment of quote {self.quote.number} is being confirmed; try again once it is known")

    async def _start_payment(self, input: PayInput, accepting: bool) -> Quote:
        """The buyer waits for the payment up to `payment_wait` (20 s). One still going on then (a provider that is
        down, a charge whose answer was lost) goes on without them: the quote says its payment is pending."""
        self._check_not_paying()
        self.progress.paying = True
        payment = asyncio.create_task(self._accept_and_pay(input, accepting))
        self.outbox.append(payment)
        try:
            await workflow.wait_condition(payment.done, timeout=self.payment_wait)
        except TimeoutError:
            # Written in the background: the buyer hears now, even while the store itself is down.
            self._change(payment="pending")
            self.outbox.append(asyncio.create_task(self._save("payment pending")))
            return self.quote
        return payment.result()

    async def _accept_and_pay(self, input: PayInput, accepting: bool) -> Quote:
        async with self.lock:
            try:
                if accepting:
                    checked(lifecycle.check_accept, self.quote, workflow.now(), True)
                    if self.quote.state is QuoteState.SENT:
                        self._change(state=QuoteState.ACCEPTED, accepted_at=workflow.now())
                        self.progress.unwritten.append(Step(event="accepted", quote=self.quote))
                else:
                    checked(lifecycle.check_pay, self.quote, workflow.now())
                await self._pay(input)
            except (ApplicationError, ActivityError) as err:
                # Refused, declined, not confirmed, or a step that failed for good: an accepted quote is
                # written as accepted and keeps holding auto-renew (R17).
                if isinstance(err, ApplicationError) and err.type == "Refused":  # a failed activity logs its own
                    workflow.logger.info(
                        "quote %s not paid: refused (%s): %s", self.quote.number, *err.details, err.message
                    )
                if self.quote.state is QuoteState.ACCEPTED:
                    await self._attach()
                if self.quote.payment or self.progress.unwritten:
                    self._change(payment=None)
                    await self._save("payment failed", {"reason": failure_message(err)})
                raise
            finally:
                self.progress.paying = False
        return self.quote

    async def _pay(self, payment: PayInput) -> None:
        """Reserve every term, charge once (key quote-<number>), renew, mark paid, confirm. Nothing is
        charged for a term someone else has; a charge that fails releases the terms; one whose answer was
        lost is asked for by its key until the provider says (R20)."""
        terms = steps.terms_of(self.quote)
        if terms:
            await self._reserve(terms)
        reference = await self._charge(payment, terms)
        self.progress.charged = True
        await self._renew(terms)
        for line_no, line in enumerate(self.quote.lines, start=1):
            if line.subscription_id is None:
                created = await steps.create_subscription(self.quote, line_no, line, workflow.now().date())
                self.progress.renewed[created.subscription_id] = created.end_date.isoformat()
        now = workflow.now()
        self._change(state=QuoteState.PAID, paid_at=now, payment_reference=reference, ended_at=now, payment=None)
        self.progress.charged = False
        await self._save("paid", {"reference": reference, "renewed": self.progress.renewed, **_by(payment.by)})
        self._send_mail("paid")

    async def _charge(self, payment: PayInput, terms: list[steps.TermRef]) -> str:
        """The payment's reference once the money is taken; otherwise the terms are released and it fails."""
        try:
            return (await steps.charge(self.quote, payment)).reference
        except ActivityError as err:
            kind, message = failure_type(err), failure_message(err)
            if kind == UNKNOWN:
                found = await steps.find(self.quote)
                if found.charged and found.reference:
                    return found.reference
                message = "the provider confirmed that nothing was charged; please pay again"
            await steps.release(self.quote, terms)
            if kind == DECLINED:
                raise ApplicationError(f"{message}; nothing was charged", type=DECLINED, non_retryable=True) from None
            if kind == REFUNDED:
                refuse("R20", message)
            raise ApplicationError(
                f"the payment could not be completed ({message}); nothing was charged",
                type="PaymentFailed",
                non_retryable=True,
            ) from None

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
        """After the charge the reserved terms renew (retried through any outage). Should one not (bad data,
        a term renewed outside this system), the money goes back and the quote ends: never paid for nothing."""
        try:
            result = await steps.renew(self.quote)
        except ActivityError as err:
            await self._refund_and_end(terms, failure_message(err))
        for sub_id, end_date in result.renewed.items():
            self.progress.renewed[sub_id] = end_date.isoformat()
            self.progress.attached.pop(sub_id, None)
        if result.not_renewed:
            await self._refund_and_end(terms, "; ".join(result.not_renewed.values()))

    async def _refund_and_end(self, terms: list[steps.TermRef], reason: str) -> NoReturn:
        await steps.refund(self.quote)
        self.progress.charged = False
        await steps.release(self.quote, terms)
        self._change(
            state=QuoteState.CANCELLED,
            cancelled_by="system",
            cancel_reason=f"not renewed: {reason}; the payment was refunded",
            ended_at=workflow.now(),
            payment=None,
        )
        await self._save("cancelled", {"by": "system", "reason": self.quote.cancel_reason})
        refuse("R16", f"{reason}; the payment was refunded")

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
        before; money it holds without a renewal goes back (R20)."""
        async with self.lock:
            paid = self.quote.state is QuoteState.PAID
            await self._detach(list(self.progress.attached), paid=paid)
            if not paid and self.progress.charged:
                await steps.refund(self.quote)
                self.progress.charged = False

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
        if not taken:
            return
        *earlier, last = taken
        self.progress.unwritten = []
        await steps.save(self.quote, last.event, detail or {}, [step.event for step in earlier])
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


async def _drop(reminder: "asyncio.Task[None] | None") -> None:
    """A reminder not yet done is dropped: cancelled, and waited for until it has let go of the lock."""
    if reminder is not None and not reminder.done():
        reminder.cancel()
        await asyncio.gather(reminder, return_exceptions=True)


def _by(actor: str | None, key: str = "by") -> dict[str, str]:
    """Who asked, in an event's detail, when it is known."""
    return {key: actor} if actor else {}
