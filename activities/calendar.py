"""What a subscription's calendar does to the world: auto-renew, lapse, the R12 auto quote."""

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from activities.email import Mailer, message_id, render_renewal
from contracts.failures import Failure, failure
from domain.models import QuoteKind, Subscription
from domain.money import format_money
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine
from store.calendars import record_auto_renew_failure, record_lapse
from store.catalog import get_customer, price_book
from store.pool import Pool
from store.quotes import MOVED, RECORDED, THEIRS, record_renewal, renewal_of


class AutoRenewInput(BaseModel):
    subscription: Subscription


class AutoRenewResult(BaseModel):
    """The renewal recorded; or, with `elsewhere`, the subscription as the store has it because a load
    had already moved its end date (renewed outside this system: nothing is billed, R18)."""

    to_end_date: date
    amount: Decimal
    recorded: bool
    promotion: str | None = None
    elsewhere: Subscription | None = None


class SendRenewalEmailInput(BaseModel):
    subscription: Subscription
    to_end_date: date
    amount: Decimal
    promotion: str | None = None


class SendRenewalEmailResult(BaseModel):
    sent: bool


class RecordAutoRenewFailureInput(BaseModel):
    subscription_id: str
    term_end: date
    reason: str


class RecordAutoRenewFailureResult(BaseModel):
    recorded: bool


class RecordLapseInput(BaseModel):
    subscription_id: str
    end_date: date


class RecordLapseResult(BaseModel):
    lapsed: bool


class CreateAutoQuoteInput(BaseModel):
    subscription_id: str
    term_end: date
    today: date


class CreateAutoQuoteResult(BaseModel):
    quote_number: str


class CalendarActivities:
    def __init__(
        self, pool: Pool, mailer: Mailer, make_auto_quote: Callable[[str, date, date], Awaitable[str]]
    ) -> None:
        """`make_auto_quote(subscription_id, term_end, today)` makes and sends a term's auto quote (R12)
        and gives its number: the quote service's, handed in so activities never reach above themselves."""
        self.pool = pool
        self.mailer = mailer
        self.make_auto_quote = make_auto_quote

    @activity.defn
    async def auto_renew(self, input: AutoRenewInput) -> AutoRenewResult:
        """Same seats and term at the price-book price on the end date, with promotions; recorded once.
        No price (a product withdrawn from the price book) is a business failure: not retried. The
        confirmation is its own step (`send_renewal_email`), so a mail outage never repeats a renewal."""
        sub = input.subscription
        to_end_date = sub.term.next_end_date(sub.end_date)
        async with self.pool.connection() as conn:
            done = await renewal_of(conn, sub.id, sub.end_date)
            if done is not None and done["source"] == "auto-renew":  # a retry after it was recorded: priced then
                return AutoRenewResult(to_end_date=done["to_end_date"], amount=done["amount"], recorded=False)
            prices, promotions = await price_book(conn, sub.currency, [sub.product], sub.end_date)
            try:
                priced = price_lines(
                    [QuoteLine.of(sub)], prices, promotions, sub.currency, QuoteKind.RENEWAL, sub.end_date
                )
            except MissingPrice as err:
                raise failure(Failure.MISSING_PRICE, f"cannot auto-renew {sub.id}: {err}") from None
            outcome, row = await record_renewal(
                conn,
                sub.id,
                sub.end_date,
                to_end_date,
                sub.seats,
                sub.term.value,
                "auto-renew",
                None,
                priced.total,
                sub.currency,
            )
        promotion = priced.lines[0].promotion
        activity.logger.info(
            "subscription=%s auto-renew from=%s to=%s amount=%s outcome=%s",
            sub.id,
            sub.end_date,
            to_end_date,
            priced.total,
            outcome,
        )
        elsewhere = None
        if outcome == MOVED and row is not None:
            elsewhere = sub.model_copy(update={"end_date": row["end_date"], "seats": row["seats"], "term": row["term"]})
        elif outcome == THEIRS and row is not None:
            elsewhere = sub.model_copy(update={"end_date": row["to_end_date"]})
        return AutoRenewResult(
            to_end_date=to_end_date,
            amount=priced.total,
            recorded=outcome == RECORDED,
            promotion=promotion,
            elsewhere=elsewhere,
        )

    @activity.defn
    async def send_renewal_email(self, input: SendRenewalEmailInput) -> SendRenewalEmailResult:
        """The auto-renewal's confirmation, on its own: a mail outage never blocks or repeats a renewal."""
        sent = await self._confirm(input.subscription, input.to_end_date, input.amount, input.promotion)
        return SendRenewalEmailResult(sent=sent)

    async def _confirm(self, sub: Subscription, to_end_date: date, amount: Decimal, promotion: str | None) -> bool:
        async with self.pool.connection() as conn:
            customer = await get_customer(conn, sub.csn)
        if customer is None:
            raise failure(Failure.INVALID_DATA, f"unknown customer CSN {sub.csn}")
        msg_id = message_id(f"{sub.id}.{sub.end_date.isoformat()}", "renewed", customer.email, self.mailer.domain)
        message = render_renewal(
            customer,
            sub,
            to_end_date,
            format_money(amount, sub.currency),
            promotion,
            self.mailer.smtp.mail_from,
            msg_id,
        )
        return await self.mailer.send_once(message, "renewed", subscription_id=sub.id)

    @activity.defn
    async def record_auto_renew_failure(self, input: RecordAutoRenewFailureInput) -> RecordAutoRenewFailureResult:
        """Shown by `renewals ops stuck` while the term is still open; a load that changes prices retries it."""
        async with self.pool.connection() as conn:
            await record_auto_renew_failure(conn, input.subscription_id, input.term_end, input.reason)
        return RecordAutoRenewFailureResult(recorded=True)

    @activity.defn
    async def record_lapse(self, input: RecordLapseInput) -> RecordLapseResult:
        """The window closed and nothing renewed the term (R01)."""
        async with self.pool.connection() as conn:
            return RecordLapseResult(lapsed=await record_lapse(conn, input.subscription_id, input.end_date))

    @activity.defn
    async def create_auto_quote(self, input: CreateAutoQuoteInput) -> CreateAutoQuoteResult:
        """R12: the term's auto quote, made and sent; its number is fixed per term, so never two."""
        number = await self.make_auto_quote(input.subscription_id, input.term_end, input.today)
        return CreateAutoQuoteResult(quote_number=number)
