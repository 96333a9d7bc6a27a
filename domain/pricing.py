"""Pricing and promotions (R11, R15): exact decimals, half-up per line, one best promotion per line."""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from domain.models import Price, Promotion, QuoteKind
from domain.money import round_money
from domain.quotes import QuoteLine


class MissingPrice(Exception):
    """The price book has no unit price for a line: the quote cannot be priced."""


class PricedQuote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal


def promotion_discount(promotion: Promotion, amount: Decimal, currency: str) -> Decimal:
    """Percent off the line amount, or a fixed amount off the line; never more than the line."""
    if promotion.percent_off is not None:
        raw = amount * promotion.percent_off / Decimal(100)
    else:
        raw = promotion.amount_off or Decimal(0)
    return min(round_money(raw, currency), amount)


def applies(promotion: Promotion, line: QuoteLine, currency: str, kind: QuoteKind, on: date) -> bool:
    return (
        promotion.starts <= on <= promotion.ends
        and line.product in promotion.products
        and line.term in promotion.terms
        and currency in promotion.currencies
        and kind in promotion.kinds
    )


def best_promotion(
    line: QuoteLine, amount: Decimal, promotions: list[Promotion], currency: str, kind: QuoteKind, on: date
) -> tuple[Promotion | None, Decimal]:
    """The single eligible promotion with the largest discount (ties: the first code alphabetically)."""
    best: tuple[Promotion | None, Decimal] = (None, round_money(Decimal(0), currency))  # "0.00": the currency's places
    for promotion in sorted(promotions, key=lambda p: p.code):
        if not applies(promotion, line, currency, kind, on):
            continue
        discount = promotion_discount(promotion, amount, currency)
        if discount > best[1]:
            best = (promotion, discount)
    return best


def line_amount(unit: Decimal, line: QuoteLine) -> Decimal:
    """Unit price × seats; a co-term line pays the days it adds: × days added / days in the term."""
    amount = unit * line.seats
    if line.proration:
        days, term_days = line.proration
        amount = amount * days / term_days
    return amount


def price_lines(
    lines: list[QuoteLine],
    prices: list[Price],
    promotions: list[Promotion],
    currency: str,
    kind: QuoteKind,
    on: date,
) -> PricedQuote:
    book = {(p.product, p.term, p.currency): p.unit_price for p in prices}
    priced = []
    for line in lines:
        unit = book.get((line.product, line.term, currency))
        if unit is None:
            raise MissingPrice(f"no price for {line.product} {line.term.value} in {currency}")
        amount = round_money(line_amount(unit, line), currency)
        promotion, discount = best_promotion(line, amount, promotions, currency, kind, on)
        priced.append(
            line.model_copy(
                update={
                    "unit_price": unit,
                    "amount": amount,
                    "discount": discount,
                    "promotion": promotion.code if promotion else None,
                }
            )
        )
    subtotal = sum((line.amount or Decimal(0) for line in priced), Decimal(0))
    discount_total = sum((line.discount for line in priced), Decimal(0))
    return PricedQuote(
        lines=priced,
        subtotal=round_money(subtotal, currency),
        discount_total=round_money(discount_total, currency),
        total=round_money(subtotal - discount_total, currency),
    )
