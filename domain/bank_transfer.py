"""R29: a quote paid by bank transfer. Its ISO 11649 creditor reference (`RF..`) is made from the quote's number
alone, so every retry, email, PDF and page gives the same one, and a reference on a bank statement names its
quote without a lookup table (and never a guessed one). A transfer pays only the exact total."""

from decimal import Decimal

from stdnum import iso11649
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

from domain.errors import BadInput, Refused
from domain.money import format_money
from domain.quotes import Quote, is_quote_number


def rf_reference(number: str) -> str:
    """`RF` + two check digits + the quote's digits: Q-000123 is RF08000123 (compact, as a bank sends it)."""
    body = number.removeprefix("Q-")
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def printed(reference: str) -> str:
    """In groups of four, as a buyer types it into a bank form: `RF08 0001 23`."""
    return iso11649.format(reference)


def is_rf(reference: str) -> bool:
    """Whether a payment reference is meant as a creditor reference (starts with RF): such a one must be valid."""
    return iso11649.compact(reference).startswith("RF")


def checked_reference(reference: str, field: str = "reference") -> str:
    """A valid ISO 11649 reference, compact; anything else is bad input naming `field` (a typo is never paid)."""
    try:
        return iso11649.validate(reference)
    except ValidationError:
        raise BadInput(f"{field}: {reference[:40]!r} is not a valid ISO 11649 reference (RF..)") from None


def quote_of(reference: str) -> str | None:
    """The quote number a valid reference names, or None: one this system never made names no quote."""
    compact = iso11649.compact(reference)
    if not iso11649.is_valid(compact):
        return None
    number = f"Q-{compact[4:]}"
    return number if is_quote_number(number) and rf_reference(number) == compact else None


def difference(quote: Quote, amount: Decimal) -> Decimal:
    """What the transfer has more (positive) or less (negative) than the quote's total."""
    return amount - quote.amount_due


def check_transfer(quote: Quote, reference: str | None, amount: Decimal | None, currency: str | None) -> None:
    """R29: a transfer pays its own quote, in its currency, the exact total; otherwise refused, with the difference."""
    if reference is not None and is_rf(reference) and iso11649.compact(reference) != rf_reference(quote.number):
        raise Refused("R29", f"{reference} is not the payment reference of quote {quote.number}; nothing was recorded")
    if currency is not None and currency != quote.currency:
        raise Refused(
            "R29", f"the transfer is in {currency}; quote {quote.number} is in {quote.currency}; nothing was recorded"
        )
    if amount is not None and amount != quote.amount_due:
        gap = difference(quote, amount)
        raise Refused(
            "R29",
            f"quote {quote.number} is {format_money(quote.amount_due, quote.currency)}; the transfer of "
            f"{format_money(amount, quote.currency)} differs by {format_money(abs(gap), quote.currency)} "
            f"({'too much' if gap > 0 else 'too little'}); nothing was recorded",
        )
