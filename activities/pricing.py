"""price_quote: the price book and promotions from PostgreSQL, the arithmetic from domain.pricing."""

from datetime import date
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.models import Price, Promotion, QuoteKind
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine
from store.catalog import from_row


class PriceQuoteInput(BaseModel):
    currency: str
    kind: QuoteKind
    lines: list[QuoteLine]
    on: date


class PriceQuoteResult(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal


class PricingActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @activity.defn
    async def price_quote(self, input: PriceQuoteInput) -> PriceQuoteResult:
        products = sorted({line.product for line in input.lines})
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM prices WHERE currency = %s AND product = ANY(%s)", (input.currency, products)
            )
            prices = [from_row(Price, row) for row in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT * FROM promotions WHERE starts <= %s AND ends >= %s AND %s = ANY(currencies)",
                (input.on, input.on, input.currency),
            )
            promotions = [from_row(Promotion, row) for row in await cur.fetchall()]
        try:
            priced = price_lines(input.lines, prices, promotions, input.currency, input.kind, input.on)
        except MissingPrice as err:
            raise ApplicationError(str(err), type="MissingPrice", non_retryable=True) from None
        return PriceQuoteResult(**priced.model_dump())
