"""QuoteWorkflow: one renewal quote from draft to paid, expired or cancelled (docs/rules.md, Lifecycle).

Every change is an update whose validator refuses what the rules forbid, so a refused action
never enters history. The expiry timer (R15) races the buyer's actions, drafts included. Paying
is a small saga (R16): reserve every term at its calendar, charge once per quote, renew, confirm.
Whatever ends the quote, the auto-renew holds it took (R02, R17) are released (R03).
"""

import asyncio
from datetime import timedelta
from functools import partial
from typing import Literal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, Purpose, SendQuoteEmailInput, SendQuoteEmailsInput
    from activities.payments import PaymentActivities, RefundPaymentInput, TakePaymentInput
    from activities.pricing import PriceQuoteInput, PricingActivities
    from activities.quotes import QuoteStoreActivities, RecordPaymentInput, SaveQuoteInput
    from activities.subscriptions import (
        AttachQuoteInput,
        CreateSubscriptionInput,
        DetachQuoteInput,
        RenewSubscriptionInput,
        RenewTermsInput,
        SubscriptionActivities,
        TermRef,
        TermRenewal,
        TermsInput,
    )
    from domain.money import format_money
    from domain.quote_rules import (
        DraftEdit,
        apply_line_changes,
        check_exclusions,
        check_line_changes,
        check_recipients,
    )
    from domain.quotes import Quote, QuoteState
    from workflows.refusals import checked, refuse
    from workflows.search_attributes import (
        CUSTOMER_CSN,
        QUOTE_CURRENCY,
        QUOTE_EXPIRES_AT,
        QUOTE_ORIGIN,
        QUOTE_STATE,
        QUOTE_TOTAL,
    )
    from workflows.subscription import SupersedeInput
    from workflows.webhooks import WEBHOOKS, Announcer

STORE_TIMEOUT = timedelta(seconds=15)
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
EMAIL_DEADLINE = timedelta(days=2)
# The buyer waits for the charge: a provider down for two minutes fails the payment, nothing retries on.
CHARGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=15))
CHARGE_DEADLINE = timedelta(minutes=2)
# Releasing and renewing reserved terms must happen: retried for a day, never forever.
TERMS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
TERMS_DEADLINE = timedelta(days=1)

# Local activities run inside the workflow task that starts them: no task of their own, one event each.
LOCAL_DEADLINE = timedelta(minutes=10)

# Paths that changed under running quotes; tests/histories replays the ones before.
DRAFTS_EXPIRE = "drafts-expire"
ACCEPTED_HOLDS = "accepted-quote-holds-auto-renew"
RESERVE_CHARGE_RENEW = "reserve-charge-renew"
ENDED_STAYS_ENDED = "ended-quote-never-priced"
LOCAL_STEPS = "local-steps-one-email-activity"
# WEBHOOKS is the newest change: a quote begun with it has every change before it.
# The steps a backend system hears of, by webhook (`quote.<step>`).
ANNOUNCED = ("sent", "accepted", "paid", "expired", "cancelled")


class QuoteInput(BaseModel):
    quote: Quote
    webhooks: list[str] = []


class QuoteResult(BaseModel):
    number: str
    state: QuoteState
    renewed: dict[str, str] = {}


class PricedInput(BaseModel):
    pass


class SendInput(BaseModel):
    pass


class PayInput(BaseModel):
    """A card's payment-method token from the gateway, or the reference of an offline payment."""

    payment_reference: str | None = None
    payment_method: str | None = None


class AcceptInput(PayInput):
    pay: bool = False


class CancelInput(BaseModel):
    by: Literal["partner", "sales", "buyer"]


class EditInput(DraftEdit):
    pass


def search_attributes(quote: Quote) -> list[SearchAttributePair]:
    """The six attributes ops filter by; the starter sets them too, so a new quote lists at once."""
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(QUOTE_STATE, quote.state.value),
        SearchAttributePair(CUSTOMER_CSN, quote.csn),
        SearchAttributePair(QUOTE_CURRENCY, quote.currency),
        SearchAttributePair(QUOTE_ORIGIN, quote.origin.value),
        SearchAttributePair(QUOTE_TOTAL, float(quote.total)),
    ]
    if quote.expires_at:
        pairs.append(SearchAttributePair(QUOTE_EXPIRES_AT, quote.expires_at))
    return pairs


def details(quote: Quote) -> str:
    """`Q-000123 · sent · EUR 2,030.00 · expires 2026-12-30`: a UI row that reads without opening it."""
    parts = [quote.number, quote.state.value, format_money(quote.total, quote.currency)]
    if quote.pricing_error:
        parts.append(f"cannot be priced: {quote.pricing_error}")
    if quote.expires_at and not quote.state.terminal:
        parts.append(f"expires {quote.expires_at.date().isoformat()}")
    if quote.cancel_reason:
        parts.append(quote.cancel_reason)
    return " · ".join(parts)


def _message(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


@workflow.defn
class QuoteWorkflow:
    @workflow.init
    def __init__(self, input: QuoteInput) -> None:
        self.quote = input.quote
        self.priced_once = False
        self.attached: dict[str, bool] = {}
        self.lock = asyncio.Lock()
        self.mail: list[asyncio.Task] = []
        self.renewed: dict[str, str] = {}
        self.executed = False
        self.charge_unknown = False
        self.stopped: str | None = None
        self.published: list = []
        self.unsaved_accept = False
        self.saved = False
        self.announcer = Announcer(list(input.webhooks))
        self.accepted_as: Quote | None = None

    @workflow.run
    async def run(self, input: QuoteInput) -> QuoteResult:
        try:
            return await self._run()
        except ActivityError as err:
            # It cannot go on: the UI row (and `renewals ops stuck`) says why, and waiting callers hear it.
            self.stopped = str(err.cause or err)
            workflow.set_current_details(f"{details(self.quote)} · stopped: {self.stopped}")
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise

    async def _run(self) -> QuoteResult:
        if self.quote.expires_at is None and self._has(DRAFTS_EXPIRE):
            self.quote = self.quote.model_copy(update={"expires_at": self.quote.expiry_for(workflow.now())})
        self._publish()
        if not self._local():
            await self._save("created")
        await self._attach()
        async with self.lock:
            # A quote cancelled while it was first attaching is never priced (or saved) again.
            if not self.quote.state.terminal or not self._has(ENDED_STAYS_ENDED):
                await self._price()
            self.priced_once = True
        while not self.quote.state.terminal:
            if self.quote.expires_at is None:
                await workflow.wait_condition(lambda: self.quote.expires_at is not None or self.quote.state.terminal)
                continue
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
        await self._execute_or_restore()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.mail, return_exceptions=True)
        return QuoteResult(number=self.quote.number, state=self.quote.state, renewed=self.renewed)

    @workflow.query
    def state(self) -> Quote:
        return self.quote

    @workflow.update
    async def priced(self, input: PricedInput) -> Quote:
        """Returns the quote once its first pricing is done: what `quote create` prints."""
        await workflow.wait_condition(lambda: self.priced_once or self.stopped is not None)
        if not self.priced_once:
            raise ApplicationError(
                f"quote {self.quote.number} cannot go on: {self.stopped}", type="Stopped", non_retryable=True
            )
        return self.quote

    @workflow.update
    async def send(self, input: SendInput) -> Quote:
        await workflow.wait_condition(lambda: self.priced_once)
        async with self.lock:
            self._check_send()
            now = workflow.now()
            self._change(state=QuoteState.SENT, sent_at=now, expires_at=self.quote.expiry_for(now))
            await self._save("sent", {"recipients": self.quote.all_recipients})
        self._send_mail("quote")
        return self.quote

    @send.validator
    def _validate_send(self, input: SendInput) -> None:
        self._check_send()

    @workflow.update
    async def accept(self, input: AcceptInput) -> Quote:
        """Accept; with `pay`, "Accept and pay": one buyer action, both steps in order."""
        async with self.lock:
            self._check_accept(input)
            accepting = self.quote.state is QuoteState.SENT
            # Accept and pay is written (and shown to ops) once, when paid, or when the payment fails.
            self.unsaved_accept = accepting and input.pay and self._local()
            if accepting:
                self._change(state=QuoteState.ACCEPTED, accepted_at=workflow.now())
                self.accepted_as = self.quote
                if not self.unsaved_accept:
                    await self._save("accepted")
                if not input.pay and self._has(ACCEPTED_HOLDS):
                    await self._attach()
            if input.pay:
                try:
                    await self._pay(input)
                except ApplicationError:
                    if self.unsaved_accept:
                        self.unsaved_accept = False
                        self._publish()
                        await self._save("accepted")
                    raise
                finally:
                    self.unsaved_accept = False
        return self.quote

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        self._check_accept(input)

    @workflow.update
    async def pay(self, input: PayInput) -> Quote:
        async with self.lock:
            self._check_pay()
            await self._pay(input)
        return self.quote

    @pay.validator
    def _validate_pay(self, input: PayInput) -> None:
        self._check_pay()

    @workflow.update
    async def cancel(self, input: CancelInput) -> Quote:
        async with self.lock:
            self._check_cancel(input)
            self._change(state=QuoteState.CANCELLED, cancelled_by=input.by, ended_at=workflow.now())
            await self._save("cancelled", {"by": input.by})
        return self.quote

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        self._check_cancel(input)

    @workflow.signal
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

    @workflow.update
    async def edit(self, input: EditInput) -> Quote:
        """Draft edits: seats, term, a line left out, recipients, address; then priced again."""
        await workflow.wait_condition(lambda: self.priced_once)
        async with self.lock:
            self._check_edit(input)
            kept = check_exclusions(self.quote.lines, input.exclude)
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
            await self._detach([sub for sub in self.attached if sub in input.exclude], paid=False)
            await self._attach()
            await self._price()
        return self.quote

    @edit.validator
    def _validate_edit(self, input: EditInput) -> None:
        self._check_edit(input)

    # Checks, shared by validators (before history) and handlers (after waiting for the lock).

    def _check_state(self, allowed: tuple[QuoteState, ...], action: str) -> None:
        state = self.quote.state
        if state in allowed:
            return
        if state.terminal:
            refuse(*self.quote.ended_refusal(action))
        names = " or ".join(s.value for s in allowed)
        refuse("lifecycle", f"quote {self.quote.number} is {state.value}; only a {names} quote can be {action}")

    def _check_not_expired(self) -> None:
        expires = self.quote.expires_at
        if expires is not None and workflow.now() >= expires:
            refuse("R15", f"quote {self.quote.number} expired at {expires.isoformat()}; ask for a new quote")

    def _check_send(self) -> None:
        self._check_state((QuoteState.DRAFT,), "sent")
        self._check_not_expired()
        if self.quote.pricing_error:
            refuse("R15", f"quote {self.quote.number} cannot be sent: {self.quote.pricing_error}")
        now = workflow.now()
        if self.quote.expiry_for(now) <= now:
            refuse("R01", f"the renewal window of a subscription on {self.quote.number} has closed")

    def _check_accept(self, input: AcceptInput) -> None:
        allowed = (QuoteState.SENT, QuoteState.ACCEPTED) if input.pay else (QuoteState.SENT,)
        self._check_state(allowed, "paid" if input.pay else "accepted")
        self._check_not_expired()

    def _check_pay(self) -> None:
        self._check_state((QuoteState.ACCEPTED,), "paid")
        self._check_not_expired()

    def _check_cancel(self, input: CancelInput) -> None:
        if input.by == "buyer":
            refuse("R10", "a buyer cannot cancel a quote; ask your partner or sales to cancel it")
        self._check_state((QuoteState.DRAFT, QuoteState.SENT, QuoteState.ACCEPTED), "cancelled")

    def _check_edit(self, input: EditInput) -> None:
        if self.quote.state is not QuoteState.DRAFT and input.address is not None:
            refuse("R10", f"the address cannot change after quote {self.quote.number} was sent; make a new quote")
        self._check_state((QuoteState.DRAFT,), "edited")
        self._check_not_expired()
        if input.recipients is not None:
            checked(check_recipients, input.recipients, self.quote.buyer_email)
        kept = checked(check_exclusions, self.quote.lines, input.exclude)
        checked(check_line_changes, self.quote.origin, kept, input.seats, input.terms)

    # Steps.

    async def _pay(self, payment: PayInput) -> None:
        """R16: reserve every term, charge once (key quote-<number>), renew, mark paid, confirm.
        Nothing is charged for a term someone else has; a failed charge releases the terms and leaves
        the quote accepted, holding auto-renew (R17)."""
        if not self._has(RESERVE_CHARGE_RENEW):
            return await self._pay_then_renew(payment.payment_reference)
        terms = [
            TermRef(subscription_id=line.subscription_id, term_end=line.end_date) for line in self.quote.renewal_lines
        ]
        if terms:
            try:
                reserved = await self._activity(
                    SubscriptionActivities.reserve_terms,
                    TermsInput(quote_number=self.quote.number, terms=terms),
                    start_to_close_timeout=STORE_TIMEOUT,
                    schedule_to_close_timeout=CHARGE_DEADLINE,
                )
            except ActivityError:
                await self._release(terms)
                raise
            if reserved.refused:
                await self._release(terms)
                first = reserved.refused[0]
                ending = "try again in a moment" if first.retry_later else "this quote can no longer be paid"
                refuse(first.rule or "R16", f"{first.reason}; {ending}")
        try:
            paid = await self._activity(
                PaymentActivities.take_payment,
                TakePaymentInput(
                    quote_number=self.quote.number,
                    amount=self.quote.total,
                    currency=self.quote.currency,
                    payment_method=payment.payment_method,
                    reference=payment.payment_reference,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=CHARGE_DEADLINE,
                retry_policy=CHARGE_RETRY,
            )
        except ActivityError as err:
            declined = isinstance(err.cause, ApplicationError) and err.cause.type == "PaymentDeclined"
            self.charge_unknown = self.charge_unknown or (not declined and payment.payment_method is not None)
            if self.quote.state is QuoteState.ACCEPTED:
                await self._attach()
            await self._release(terms)
            if declined:
                raise ApplicationError(
                    f"{_message(err)}; nothing was charged", type="PaymentDeclined", non_retryable=True
                ) from None
            raise ApplicationError(
                "the payment could not be completed; nothing was charged, please try again",
                type="PaymentFailed",
                non_retryable=True,
            ) from None
        await self._renew_terms()
        await self._create_new_subscriptions()
        self.executed = True
        now = workflow.now()
        self._change(state=QuoteState.PAID, paid_at=now, payment_reference=paid.reference, ended_at=now)
        await self._save(
            "paid",
            {"reference": paid.reference, "renewed": self.renewed},
            earlier=["accepted"] if self.unsaved_accept else [],
        )
        self._send_mail("paid")

    async def _renew_terms(self) -> None:
        renewals = [
            TermRenewal(
                subscription_id=line.subscription_id,
                term_end=line.end_date,
                to_end_date=line.new_end_date,
                seats=line.seats,
                term=line.term,
            )
            for line in self.quote.renewal_lines
        ]
        if not renewals:
            return
        result = await self._activity(
            SubscriptionActivities.renew_terms,
            RenewTermsInput(quote_number=self.quote.number, renewals=renewals),
            start_to_close_timeout=STORE_TIMEOUT,
            schedule_to_close_timeout=TERMS_DEADLINE,
            retry_policy=TERMS_RETRY,
        )
        for sub_id, end_date in result.renewed.items():
            self.renewed[sub_id] = end_date.isoformat()
            self.attached.pop(sub_id, None)
        if result.not_renewed:
            # A reserved term always renews; should one not, the buyer gets the money back.
            await self._activity(
                PaymentActivities.refund_payment,
                RefundPaymentInput(quote_number=self.quote.number),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=TERMS_DEADLINE,
                retry_policy=TERMS_RETRY,
            )
            await self._release([TermRef(subscription_id=r.subscription_id, term_end=r.term_end) for r in renewals])
            reasons = "; ".join(result.not_renewed.values())
            refuse("R16", f"{reasons}; the payment was refunded")

    async def _create_new_subscriptions(self) -> None:
        for line_no, line in enumerate(self.quote.lines, start=1):
            if line.subscription_id is not None:
                continue
            created = await self._activity(
                SubscriptionActivities.create_subscription,
                CreateSubscriptionInput(
                    quote_number=self.quote.number,
                    line_no=line_no,
                    csn=self.quote.csn,
                    product=line.product,
                    seats=line.seats,
                    term=line.term,
                    currency=self.quote.currency,
                    start_date=workflow.now().date(),
                    purchase_method=self.quote.purchase_method,
                    partner_csn=self.quote.partner_csn,
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                schedule_to_close_timeout=TERMS_DEADLINE,
                retry_policy=TERMS_RETRY,
            )
            self.renewed[created.subscription_id] = created.end_date.isoformat()

    async def _release(self, terms: list[TermRef]) -> None:
        if terms:
            await self._activity(
                SubscriptionActivities.release_terms,
                TermsInput(quote_number=self.quote.number, terms=terms),
                start_to_close_timeout=STORE_TIMEOUT,
                schedule_to_close_timeout=TERMS_DEADLINE,
                retry_policy=TERMS_RETRY,
            )

    async def _pay_then_renew(self, reference: str | None) -> None:
        """The path before reservations, for quotes whose history already took it."""
        recorded = await self._activity(
            QuoteStoreActivities.record_payment,
            RecordPaymentInput(quote=self.quote, reference=reference or f"PAY-{self.quote.number}"),
            start_to_close_timeout=STORE_TIMEOUT,
        )
        self._change(
            state=QuoteState.PAID, paid_at=workflow.now(), payment_reference=recorded.reference, ended_at=workflow.now()
        )
        await self._save("paid", {"reference": recorded.reference})

    async def _price(self) -> None:
        try:
            priced = await self._activity(
                PricingActivities.price_quote,
                PriceQuoteInput(
                    currency=self.quote.currency,
                    kind=self.quote.kind,
                    lines=self.quote.lines,
                    on=workflow.now().date(),
                ),
                start_to_close_timeout=STORE_TIMEOUT,
            )
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "MissingPrice"):
                raise
            self._change(pricing_error=cause.message)
            await self._save("pricing failed", {"reason": cause.message})
            return
        self._change(
            lines=priced.lines,
            subtotal=priced.subtotal,
            discount_total=priced.discount_total,
            total=priced.total,
            pricing_error=None,
        )
        await self._save("priced", {"total": str(priced.total)})

    async def _execute_or_restore(self) -> None:
        """Paid before reservations: renew each line now, then auto-renew back on. Otherwise: auto-renew as
        it was, and a charge whose outcome was never known is refunded."""
        if self.quote.state is QuoteState.PAID and self.executed:
            await self._detach(list(self.attached), paid=True)
        elif self.quote.state is QuoteState.PAID:
            for line_no, line in enumerate(self.quote.lines, start=1):
                if line.subscription_id is None:
                    created = await self._activity(
                        SubscriptionActivities.create_subscription,
                        CreateSubscriptionInput(
                            quote_number=self.quote.number,
                            line_no=line_no,
                            csn=self.quote.csn,
                            product=line.product,
                            seats=line.seats,
                            term=line.term,
                            currency=self.quote.currency,
                            start_date=workflow.now().date(),
                        ),
                        start_to_close_timeout=STORE_TIMEOUT,
                    )
                    self.renewed[created.subscription_id] = created.end_date.isoformat()
                    continue
                result = await self._activity(
                    SubscriptionActivities.renew_subscription,
                    RenewSubscriptionInput(
                        subscription_id=line.subscription_id,
                        quote_number=self.quote.number,
                        from_end_date=line.end_date,
                        to_end_date=line.new_end_date,
                        seats=line.seats,
                        term=line.term,
                    ),
                    start_to_close_timeout=STORE_TIMEOUT,
                )
                self.renewed[line.subscription_id] = (
                    str(result.to_end_date) if result.renewed else f"already renewed by {result.claimed_by}"
                )
            await self._detach(list(self.attached), paid=True)
            await self._save("executed", {"renewed": self.renewed})
            self._send_mail("paid")
        else:
            await self._detach(list(self.attached), paid=False)
            if self.charge_unknown:
                await self._activity(
                    PaymentActivities.refund_payment,
                    RefundPaymentInput(quote_number=self.quote.number),
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=TERMS_DEADLINE,
                    retry_policy=TERMS_RETRY,
                )

    async def _attach(self) -> None:
        """Tell each subscription this quote is pending, holding auto-renew if it changes them (R02)."""
        hold = self.quote.holds_auto_renew
        todo = [
            line.subscription_id
            for line in self.quote.lines
            if line.subscription_id
            and (line.subscription_id not in self.attached or (hold and not self.attached[line.subscription_id]))
        ]
        await asyncio.gather(
            *(
                self._activity(
                    SubscriptionActivities.attach_quote,
                    AttachQuoteInput(subscription_id=sub, quote_number=self.quote.number, hold=hold),
                    start_to_close_timeout=STORE_TIMEOUT,
                )
                for sub in todo
            )
        )
        self.attached.update({sub: hold for sub in todo})

    async def _detach(self, subscription_ids: list[str], paid: bool) -> None:
        await asyncio.gather(
            *(
                self._activity(
                    SubscriptionActivities.detach_quote,
                    DetachQuoteInput(subscription_id=sub, quote_number=self.quote.number, paid=paid),
                    start_to_close_timeout=STORE_TIMEOUT,
                )
                for sub in subscription_ids
            )
        )
        for sub in subscription_ids:
            self.attached.pop(sub, None)

    def _send_mail(self, purpose: Purpose) -> None:
        """The recipients' emails, in the background: an SMTP outage never blocks the buyer's next step."""
        email = partial(
            workflow.execute_activity_method,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=EMAIL_DEADLINE,
            retry_policy=EMAIL_RETRY,
        )
        if self._local():
            emails = SendQuoteEmailsInput(quote=self.quote, recipients=self.quote.all_recipients, purpose=purpose)
            jobs = [email(EmailActivities.send_quote_emails, emails)]
        else:
            jobs = [
                email(
                    EmailActivities.send_quote_email,
                    SendQuoteEmailInput(quote=self.quote, recipient=recipient, purpose=purpose),
                )
                for recipient in self.quote.all_recipients
            ]
        self.mail.extend(asyncio.create_task(job) for job in jobs)

    def _local(self) -> bool:
        """Store writes, pricing, calendar calls and payment steps as local activities, one email activity per
        purpose, and search attributes upserted only when they change: the lifecycle in far fewer events
        (`make bench`). Decided at the quote's first step, so a history from before keeps its shape."""
        return workflow.patched(WEBHOOKS) or workflow.patched(LOCAL_STEPS)

    def _has(self, change: str) -> bool:
        """Whether this workflow runs `change`: one begun with the newest code has every change before it,
        so it records one patch marker, not one per change. A marker implies the changes before it."""
        return self._local() or workflow.patched(change)

    def _announce(self, steps: list[str]) -> None:
        """Webhooks for the steps just written, in order; `accepted` carries the quote as accepted, also when
        accept and pay were written at once. Sent in the background like the emails."""
        for step in steps:
            if step not in ANNOUNCED or not workflow.patched(WEBHOOKS):
                continue
            quote = self.accepted_as if step == "accepted" and self.accepted_as else self.quote
            delivery = self.announcer.announce(f"quote.{step}", quote.json_view())  # type: ignore[arg-type]
            if delivery is not None:
                self.mail.append(delivery)

    async def _activity(self, method, arg, **options):
        if self._local():
            options.setdefault("schedule_to_close_timeout", LOCAL_DEADLINE)
            try:
                return await workflow.execute_local_activity_method(method, arg, **options)
            except FailureError as err:
                if isinstance(err, ActivityError):
                    raise
                # A local activity's failure arrives bare: wrapped as a regular one's, one way to handle both.
                raise ActivityError(
                    f"local activity {method.__name__} failed",
                    scheduled_event_id=0,
                    started_event_id=0,
                    identity="",
                    activity_type=method.__name__,
                    activity_id="",
                    retry_state=None,
                ) from err
        return await workflow.execute_activity_method(method, arg, **options)

    def _change(self, **changes) -> None:
        self.quote = self.quote.model_copy(update={**changes, "revision": self.quote.revision + 1})
        self._publish()

    def _publish(self) -> None:
        workflow.set_current_details(details(self.quote))
        if self.unsaved_accept and self.quote.state is QuoteState.ACCEPTED:
            return
        pairs = search_attributes(self.quote)
        if pairs != self.published or not self._local():
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in pairs])
            self.published = pairs

    async def _save(self, event: str, detail: dict | None = None, earlier: list[str] | None = None) -> None:
        """One write per step; the quote's first write also logs its `created` event."""
        earlier = list(earlier or [])
        if not self.saved and self._local():
            earlier.insert(0, "created")
        self.saved = True
        await self._activity(
            QuoteStoreActivities.save_quote,
            SaveQuoteInput(quote=self.quote, event=event, detail=detail or {}, earlier_events=earlier or []),
            start_to_close_timeout=STORE_TIMEOUT,
        )
        self._announce([*earlier, event])
