"""What the product needs of a payment provider (docs/architecture.md, "Paying").

The buyer app turns a card into a payment-method token (`tokenize`); only that token reaches the
quote's workflow, whose payment activity charges it with the idempotency key `quote-<number>`.
Card digits go to the provider and nowhere else: no history, row or log holds them.
"""

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from stdnum import luhn


def idempotency_key(quote_number: str) -> str:
    """The key a quote's payment is charged, found and refunded by: one charge per quote."""
    return f"quote-{quote_number}"


# A payment-method token as a provider makes one: printable ASCII, no space, no control character.
PAYMENT_METHOD = re.compile(r"[\x21-\x7e]{1,200}")


def well_formed_token(payment_method: str) -> bool:
    """Whether a payment-method token can be one a provider made: one with a NUL or a control character
    cannot (it never reaches the provider, nor the store, whose text cannot hold a NUL)."""
    return PAYMENT_METHOD.fullmatch(payment_method) is not None


# ASCII digits only (`str.isdigit` takes Arabic-Indic and other digits too), spaces between groups allowed.
CARD_NUMBER = re.compile(r"[0-9]+(?: +[0-9]+)*")
CVC = re.compile(r"[0-9]{3,4}")
EXPIRY = re.compile(r"(0[1-9]|1[0-2])/([0-9]{2})")


class Card(BaseModel):
    """What the buyer types; never stored, logged, or passed to a workflow.

    The expiry is compared with today's date: the validation context's `today` (the buyer app's clock), else
    the real date. A card is good through the last day of its expiry month, and refused only once that day
    has passed in every time zone."""

    holder: str = Field(min_length=1, max_length=100)
    number: SecretStr
    expiry: str
    cvc: SecretStr

    @field_validator("number")
    @classmethod
    def _number(cls, value: SecretStr) -> SecretStr:
        typed = value.get_secret_value().strip()
        if CARD_NUMBER.fullmatch(typed) is None:
            raise ValueError("a card number has 12 to 19 digits")
        digits = typed.replace(" ", "")
        if not 12 <= len(digits) <= 19:
            raise ValueError("a card number has 12 to 19 digits")
        if not luhn.is_valid(digits):
            raise ValueError("this card number is not valid")
        return SecretStr(digits)

    @field_validator("cvc")
    @classmethod
    def _cvc(cls, value: SecretStr) -> SecretStr:
        typed = value.get_secret_value().strip()
        if CVC.fullmatch(typed) is None:
            raise ValueError("the security code (CVC) has 3 or 4 digits")
        return SecretStr(typed)

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, value: str, info: ValidationInfo) -> str:
        typed = value.strip()
        found = EXPIRY.fullmatch(typed)
        if found is None:
            raise ValueError("write the expiry date as MM/YY, for example 12/29")
        year, month = 2000 + int(found.group(2)), int(found.group(1))
        last_day = date(year, month, calendar.monthrange(year, month)[1])
        today = (info.context or {}).get("today") or datetime.now(UTC).date()
        # UTC is at most a day ahead of the buyer's own date: still the expiry month somewhere, still good.
        if today - timedelta(days=1) > last_day:
            raise ValueError("this card has expired")
        return typed


class ChargeRequest(BaseModel):
    idempotency_key: str
    payment_method: str
    amount: Decimal
    currency: str


class Charge(BaseModel):
    id: str
    amount: Decimal
    currency: str
    refunded: bool = False


class CardDeclined(Exception):
    """The provider refused the charge; the message is for the buyer, in plain words."""


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered that it cannot take requests now (a 5xx):
    an outage, waited for and retried with the same idempotency key."""


class OutcomeUnknown(Exception):
    """The request may have reached the provider but its answer was lost: whether it charged is known
    only by asking it by the idempotency key (`find`), R20."""


class PaymentPending(OutcomeUnknown):
    """The provider has not decided yet (the buyer authenticating, a payment processing): asked again later, or
    sooner when the provider tells us (R20)."""


class ActionRequired(PaymentPending):
    """The buyer must authenticate at the provider (3-D Secure) before it charges: `url` is where they go."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class PaymentGateway(Protocol):
    async def tokenize(self, card: Card) -> str:
        """A payment-method token for the card; the only thing about it the product keeps."""

    async def charge(self, request: ChargeRequest) -> Charge:
        """Charge once per idempotency key: the same key returns the same charge (refunded or not).
        Raises CardDeclined, ProviderUnavailable or OutcomeUnknown."""

    async def find(self, idempotency_key: str) -> Charge | None:
        """The charge made with this key, or None if there is none. Raises ProviderUnavailable, and
        PaymentPending while the provider has not decided."""

    async def refund(self, idempotency_key: str) -> bool:
        """Refund the charge made with this key; False when there was none (or it is refunded already)."""
