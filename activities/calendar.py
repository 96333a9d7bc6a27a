"""What a subscription's calendar does to the world: auto-renew, lapse, the R12 auto quote."""

from datetime import date
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.email import Mailer, message_id, render_renewal
from domain.models import QuoteKind, Subscription
from domain.money import format_money
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine
from store.catalog import get_customer, price_book
from store.quotes import record_renewal


class AutoRenewInput(BaseModel):
    subscription: Subscription


class AutoRenewResult(BaseModel):
    to_end_date: date
    amount: Decimal
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
    def __init__(self, client: Client, pool: AsyncConnectionPool, mailer: Mailer, quotes_factory) -> None:
        self.client = client
        self.pool = pool
        self.mailer = mailer
        self.quotes_factory = quotes_factory

    @activity.defn
    async def auto_renew(self, input: AutoRenewInput) -> AutoRenewResult:
        """Same seats and term at the price-book price on the end date, with promotions; recorded once."""
        sub = input.subscription
        line = QuoteLine.of(sub)
        to_end_date = sub.term.next_end_date(sub.end_date)
        async with self.pool.connection() as conn:
            prices, promotions = await price_book(conn, sub.currency, [sub.product], sub.end_date)
            try:
                priced = price_lines([line], prices, promotions, sub.currency, QuoteKind.RENEWAL, sub.end_date)
            except MissingPrice as err:
                raise ApplicationError(f"cannot auto-renew {sub.id}: {err}", type="MissingPrice") from None
            recorded = await record_renewal(
                conn, sub.id, sub.end_date, to_end_date, sub.seats, sub.term.value, "auto-renew", None,
                priced.total, sub.currency,
            )
            customer = await get_customer(conn, sub.csn)
        amount = format_money(priced.total, sub.currency)
        msg_id = message_id(f"{sub.id}.{sub.end_date.isoformat()}", "renewed", customer.email, self.mailer.domain)
        message = render_renewal(customer, sub, to_end_date, amount, priced.lines[0].promotion,
                                 self.mailer.smtp.mail_from, msg_id)
        await self.mailer.send_once(message, "renewed", subscription_id=sub.id)
        activity.logger.info("subscription=%s auto-renewed from=%s to=%s amount=%s recorded=%s", sub.id,
                             sub.end_date, to_end_date, priced.total, recorded)
        return AutoRenewResult(to_end_date=to_end_date, amount=priced.total, recorded=recorded)

    @activity.defn
    async def record_lapse(self, input: RecordLapseInput) -> RecordLapseResult:
        """The window closed and nothing renewed the term (R01)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE subscriptions SET lapsed_on = %s, updated_at = now()"
                " WHERE id = %s AND end_date = %s AND lapsed_on IS NULL RETURNING id",
                (input.end_date, input.subscription_id, input.end_date),
            )
            return RecordLapseResult(lapsed=await cur.fetchone() is not None)

    @activity.defn
    async def create_auto_quote(self, input: CreateAutoQuoteInput) -> CreateAutoQuoteResult:
        """R12: the term's auto quote, made and sent; its number is fixed per term, so never two."""
        number = await self.quotes_factory(self.client).create_auto(input.subscription_id, input.term_end, input.today)
        return CreateAutoQuoteResult(quote_number=number)
