"""price_quote: the price book and promotions from PostgreSQL, the arithmetic from domain.pricing."""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from contracts.failures import Failure, failure
from domain.models import QuoteKind
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine
from store.catalog import price_book
from store.pool import Pool


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
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def price_quote(self, input: PriceQuoteInput) -> PriceQuoteResult:
        async with self.pool.connection() as conn:
            prices, promotions = await price_book(
                conn, input.currency, [line.product for line in input.lines], input.on
            )
        try:
            priced = price_lines(input.lines, prices, promotions, input.currency, input.kind, input.on)
        except MissingPrice as err:
            raise failure(Failure.MISSING_PRICE, str(err)) from None
        return PriceQuoteResult(**priced.model_dump())
