"""R29: the transfers of a bank statement, recorded one line at a time. Each line's RF reference names its quote
(domain/bank_transfer.py); the line pays it through the quote's workflow as any offline payment does, so
renewals, holds and settling stay as R03 and R16-R21 say. Every line gets its own answer: paid, refused (with
the difference when the amount is off), an unknown reference (never matched another way), or already paid:
the same statement sent twice pays once."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain.bank_transfer import difference, quote_of
from domain.errors import NotFound, Refused
from domain.money import format_money
from domain.quotes import QuoteState
from services.quotes import QuoteService

Outcome = Literal["paid", "refused", "unknown_reference", "already_paid", "pending"]


class Transfer(BaseModel):
    """One credit on the vendor's bank statement."""

    reference: str
    amount: Decimal
    currency: str
    date: date


class TransferResult(BaseModel):
    reference: str
    status: Outcome
    quote: str | None = None
    message: str
    rule: str | None = None
    difference: str | None = None  # what the transfer has more (positive) or less than the quote's total


async def record_transfers(
    quotes: QuoteService, transfers: list[Transfer], actor: str | None = None
) -> list[TransferResult]:
    """Each line in order; one line's refusal never stops the next."""
    return [await record_transfer(quotes, transfer, actor) for transfer in transfers]


async def record_transfer(quotes: QuoteService, transfer: Transfer, actor: str | None = None) -> TransferResult:
    reference = transfer.reference
    number = quote_of(reference)
    try:
        quote = await quotes.show(number) if number else None
    except NotFound:
        quote = None
    if number is None or quote is None:
        return TransferResult(
            reference=reference, status="unknown_reference", message=f"no quote has the reference {reference}"
        )
    if quote.state is QuoteState.PAID:
        return TransferResult(
            reference=reference,
            status="already_paid",
            quote=number,
            message=f"quote {number} is paid (reference {quote.payment_reference}); nothing was recorded again",
        )
    try:
        paid = await quotes.pay(
            number,
            reference,
            actor=actor,
            amount=transfer.amount,
            currency=transfer.currency,
            received_on=transfer.date,
        )
    except Refused as err:
        gap = difference(quote, transfer.amount) if transfer.currency == quote.currency else None
        return TransferResult(
            reference=reference,
            status="refused",
            quote=number,
            message=err.message,
            rule=err.rule,
            difference=str(gap) if gap else None,
        )
    if paid.state is QuoteState.PAID:
        total = format_money(paid.amount_due, paid.currency)
        return TransferResult(reference=reference, status="paid", quote=number, message=f"quote {number} paid, {total}")
    return TransferResult(
        reference=reference, status="pending", quote=number, message=f"quote {number}: the payment is being recorded"
    )
