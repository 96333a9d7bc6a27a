"""price_quote: the price book and promotions from PostgreSQL, the arithmetic from domain.pricing."""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from contracts.failures import Failure, failure
from domain.models import QuoteKind
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine
from domain.tax import MissingRate, TaxLine, tax_lines
from store.catalog import get_customer, get_vendor, price_book, tax_rates
from store.pool import Pool


class PriceQuoteInput(BaseModel):
    currency: str
    kind: QuoteKind
    lines: list[QuoteLine]
    on: date
    csn: str | None = None  # R28: the customer whose country and VAT number decide the tax


class PriceQuoteResult(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    tax: list[TaxLine] = []


class PricingActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def price_quote(self, input: PriceQuoteInput) -> PriceQuoteResult:
        """The lines priced (R11, R15), then the tax on their total (R28) from the data's vendor and rates."""
        async with self.pool.connection() as conn:
            prices, promotions = await price_book(
                conn, input.currency, [line.product for line in input.lines], input.on
            )
            customer = await get_customer(conn, input.csn) if input.csn else None
            vendor = await get_vendor(conn) if customer else None
            rates = await tax_rates(conn) if vendor else []
        try:
            priced = price_lines(input.lines, prices, promotions, input.currency, input.kind, input.on)
            tax = tax_lines(priced.total, input.currency, customer, vendor, rates, input.on) if customer else []
        except (MissingPrice, MissingRate) as err:
            raise failure(Failure.MISSING_PRICE, str(err)) from None
        return PriceQuoteResult(**priced.model_dump(), tax=tax)
