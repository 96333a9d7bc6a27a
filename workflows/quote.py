"""QuoteWorkflow: one renewal quote from draft to paid, expired or cancelled (DOMAIN.md, Lifecycle).

Every change is an update whose validator refuses what the rules forbid, so a refused action
never enters history. The expiry timer (R15) races the buyer's actions; whatever ends the quote,
the auto-renew holds it took (R02) are released (R03), and a paid quote renews each line once.
"""

import asyncio
from datetime import timedelta
from typing import Literal, NoReturn

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, Purpose, SendQuoteEmailInput
    from activities.pricing import PriceQuoteInput, PricingActivities
    from activities.quotes import QuoteStoreActivities, RecordPaymentInput, SaveQuoteInput
    from activities.subscriptions import (
        AttachQuoteInput,
        CreateSubscriptionInput,
        DetachQuoteInput,
        RenewSubscriptionInput,
        SubscriptionActivities,
    )
    from domain.errors import BadInput, Refused
    from domain.money import format_money
    from domain.quote_rules import (
        DraftEdit,
        apply_line_changes,
        check_exclusions,
        check_line_changes,
        check_recipients,
    )
    from domain.quotes import Quote, QuoteState

QUOTE_STATE = SearchAttributeKey.for_keyword("QuoteState")
CUSTOMER_CSN = SearchAttributeKey.for_keyword("CustomerCsn")
QUOTE_CURRENCY = SearchAttributeKey.for_keyword("QuoteCurrency")
QUOTE_ORIGIN = SearchAttributeKey.for_keyword("QuoteOrigin")
QUOTE_EXPIRES_AT = SearchAttributeKey.for_datetime("QuoteExpiresAt")
QUOTE_TOTAL = SearchAttributeKey.for_float("QuoteTotal")

STORE_TIMEOUT = timedelta(seconds=15)
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))


class QuoteInput(BaseModel):
    quote: Quote


class QuoteResult(BaseModel):
    number: str
    state: QuoteState
    renewed: dict[str, str] = {}


class PricedInput(BaseModel):
    pass


class SendInput(BaseModel):
    pass


class AcceptInput(BaseModel):
    pay: bool = False
    payment_reference: str | None = None


class PayInput(BaseModel):
    payment_reference: str | None = None


class CancelInput(BaseModel):
    by: Literal["partner", "sales", "buyer"]


class EditInput(DraftEdit):
    pass


def search_attributes(quote: Quote) -> list[SearchAttributePair]:
    """The six attributes ops filter by; the starter sets them too, so a new quote lists at once."""
    pairs = [
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
    return " · ".join(parts)


def _refuse(rule: str, message: str) -> NoReturn:
    raise ApplicationError(message, rule, type="Refused", non_retryable=True)


def _checked(check, *args):
    """Run a domain check; its Refused or BadInput reaches the caller as the update's failure."""
    try:
        return check(*args)
    except Refused as err:
        _refuse(err.rule, err.message)
    except BadInput as err:
        raise ApplicationError(err.message, None, type="BadInput", non_retryable=True) from None


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

    @workflow.run
    async def run(self, input: QuoteInput) -> QuoteResult:
        self._publish()
        await self._save("created")
        await self._attach()
        async with self.lock:
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
                except asyncio.TimeoutError:
                    pass
                continue
            async with self.lock:
                if not self.quote.state.terminal:
                    self._change(state=QuoteState.EXPIRED, ended_at=workflow.now())
                    await self._save("expired")
        await self._execute_or_restore()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.mail)
        return QuoteResult(number=self.quote.number, state=self.quote.state, renewed=self.renewed)

    @workflow.query
    def state(self) -> Quote:
        return self.quote

    @workflow.update
    async def priced(self, input: PricedInput) -> Quote:
        """Returns the quote once its first pricing is done: what `quote create` prints."""
        await workflow.wait_condition(lambda: self.priced_once)
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
            if self.quote.state is QuoteState.SENT:
                self._change(state=QuoteState.ACCEPTED, accepted_at=workflow.now())
                await self._save("accepted")
            if input.pay:
                await self._pay(input.payment_reference)
        return self.quote

    @accept.validator
    def _validate_accept(self, input: AcceptInput) -> None:
        self._check_accept(input)

    @workflow.update
    async def pay(self, input: PayInput) -> Quote:
        async with self.lock:
            self._check_pay()
            await self._pay(input.payment_reference)
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

    @workflow.update
    async def edit(self, input: EditInput) -> Quote:
        """Draft edits: seats, term, a line left out, recipients, address; then priced again."""
        await workflow.wait_condition(lambda: self.priced_once)
        async with self.lock:
            self._check_edit(input)
            kept = check_exclusions(self.quote.lines, input.exclude)
            self._change(
                lines=apply_line_changes(kept, input.seats, input.terms),
                recipients=self.quote.recipients if input.recipients is None else check_recipients(input.recipients),
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
            _refuse("lifecycle", f"quote {self.quote.number} is {state.value}; it can no longer be {action}")
        names = " or ".join(s.value for s in allowed)
        _refuse("lifecycle", f"quote {self.quote.number} is {state.value}; only a {names} quote can be {action}")

    def _check_not_expired(self) -> None:
        expires = self.quote.expires_at
        if expires is not None and workflow.now() >= expires:
            _refuse("R15", f"quote {self.quote.number} expired at {expires.isoformat()}; ask for a new quote")

    def _check_send(self) -> None:
        self._check_state((QuoteState.DRAFT,), "sent")
        if self.quote.pricing_error:
            _refuse("R15", f"quote {self.quote.number} cannot be sent: {self.quote.pricing_error}")
        now = workflow.now()
        if self.quote.expiry_for(now) <= now:
            _refuse("R01", f"the renewal window of a subscription on {self.quote.number} has closed")

    def _check_accept(self, input: AcceptInput) -> None:
        allowed = (QuoteState.SENT, QuoteState.ACCEPTED) if input.pay else (QuoteState.SENT,)
        self._check_state(allowed, "paid" if input.pay else "accepted")
        self._check_not_expired()

    def _check_pay(self) -> None:
        self._check_state((QuoteState.ACCEPTED,), "paid")
        self._check_not_expired()

    def _check_cancel(self, input: CancelInput) -> None:
        if input.by == "buyer":
            _refuse("R10", "a buyer cannot cancel a quote; ask your partner or sales to cancel it")
        self._check_state((QuoteState.DRAFT, QuoteState.SENT, QuoteState.ACCEPTED), "cancelled")

    def _check_edit(self, input: EditInput) -> None:
        if self.quote.state is not QuoteState.DRAFT and input.address is not None:
            _refuse("R10", f"the address cannot change after quote {self.quote.number} was sent; make a new quote")
        self._check_state((QuoteState.DRAFT,), "edited")
        if input.recipients is not None:
            _checked(check_recipients, input.recipients)
        kept = _checked(check_exclusions, self.quote.lines, input.exclude)
        _checked(check_line_changes, self.quote.origin, kept, input.seats, input.terms)

    # Steps.

    async def _pay(self, reference: str | None) -> None:
        recorded = await workflow.execute_activity_method(
            QuoteStoreActivities.record_payment,
            RecordPaymentInput(quote=self.quote, reference=reference or f"PAY-{self.quote.number}"),
            start_to_close_timeout=STORE_TIMEOUT,
        )
        self._change(state=QuoteState.PAID, paid_at=workflow.now(), payment_reference=recorded.reference,
                     ended_at=workflow.now())
        await self._save("paid", {"reference": recorded.reference})

    async def _price(self) -> None:
        try:
            priced = await workflow.execute_activity_method(
                PricingActivities.price_quote,
                PriceQuoteInput(
                    currency=self.quote.currency, kind=self.quote.kind, lines=self.quote.lines,
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
            lines=priced.lines, subtotal=priced.subtotal, discount_total=priced.discount_total,
            total=priced.total, pricing_error=None,
        )
        await self._save("priced", {"total": str(priced.total)})

    async def _execute_or_restore(self) -> None:
        """Paid: renew each line once, then auto-renew back on. Otherwise: auto-renew as it was."""
        if self.quote.state is QuoteState.PAID:
            for line_no, line in enumerate(self.quote.lines, start=1):
                if line.subscription_id is None:
                    created = await workflow.execute_activity_method(
                        SubscriptionActivities.create_subscription,
                        CreateSubscriptionInput(
                            quote_number=self.quote.number, line_no=line_no, csn=self.quote.csn,
                            product=line.product, seats=line.seats, term=line.term, currency=self.quote.currency,
                            start_date=workflow.now().date(),
                        ),
                        start_to_close_timeout=STORE_TIMEOUT,
                    )
                    self.renewed[created.subscription_id] = created.end_date.isoformat()
                    continue
                result = await workflow.execute_activity_method(
                    SubscriptionActivities.renew_subscription,
                    RenewSubscriptionInput(
                        subscription_id=line.subscription_id, quote_number=self.quote.number,
                        from_end_date=line.end_date, to_end_date=line.new_end_date, seats=line.seats, term=line.term,
                    ),
                    start_to_close_timeout=STORE_TIMEOUT,
                )
                self.renewed[line.subscription_id] = (
                    result.to_end_date.isoformat() if result.renewed else f"already renewed by {result.claimed_by}"
                )
            await self._detach(list(self.attached), paid=True)
            await self._save("executed", {"renewed": self.renewed})
            self._send_mail("paid")
        else:
            await self._detach(list(self.attached), paid=False)

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
                workflow.execute_activity_method(
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
                workflow.execute_activity_method(
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
        """One email per recipient, in the background: an SMTP outage never blocks the buyer's next step."""
        for recipient in self.quote.all_recipients:
            self.mail.append(
                asyncio.create_task(
                    workflow.execute_activity_method(
                        EmailActivities.send_quote_email,
                        SendQuoteEmailInput(quote=self.quote, recipient=recipient, purpose=purpose),
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=EMAIL_RETRY,
                    )
                )
            )

    def _change(self, **changes) -> None:
        self.quote = self.quote.model_copy(update={**changes, "revision": self.quote.revision + 1})
        self._publish()

    def _publish(self) -> None:
        workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in search_attributes(self.quote)])
        workflow.set_current_details(details(self.quote))

    async def _save(self, event: str, detail: dict | None = None) -> None:
        await workflow.execute_activity_method(
            QuoteStoreActivities.save_quote,
            SaveQuoteInput(quote=self.quote, event=event, detail=detail or {}),
            start_to_close_timeout=STORE_TIMEOUT,
        )
