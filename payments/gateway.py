"""What the product needs of a payment provider (docs/architecture.md, "Paying").

The buyer app turns a card into a payment-method token (`tokenize`); only that token reaches the
quote's workflow, whose payment activity charges it with the idempotency key `quote-<number>`.
Card digits go to the provider and nowhere else: no history, row or log holds them.
"""

from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, Field, SecretStr, field_validator


def idempotency_key(quote_number: str) -> str:
    """The key a quote's payment is charged, found and refunded by: one charge per quote."""
    return f"quote-{quote_number}"


class Card(BaseModel):
    """What the buyer types; never stored, logged, or passed to a workflow."""

    holder: str = Field(min_length=1, max_length=100)
    number: SecretStr
    expiry: str = Field(pattern=r"^(0[1-9]|1[0-2])/[0-9]{2}$")
    cvc: SecretStr

    @field_validator("number")
    @classmethod
    def _luhn(cls, value: SecretStr) -> SecretStr:
        digits = value.get_secret_value().replace(" ", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise ValueError("a card number has 12 to 19 digits")
        total = 0
        for i, d in enumerate(reversed(digits)):
            n = int(d) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10:
            raise ValueError("this card number is not valid")
        return SecretStr(digits)


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


class PaymentGateway(Protocol):
    async def tokenize(self, card: Card) -> str:
        """A payment-method token for the card; the only thing about it the product keeps."""

    async def charge(self, request: ChargeRequest) -> Charge:
        """Charge once per idempotency key: the same key returns the same charge (refunded or not).
        Raises CardDeclined, ProviderUnavailable or OutcomeUnknown."""

    async def find(self, idempotency_key: str) -> Charge | None:
        """The charge made with this key, or None if there is none. Raises ProviderUnavailable."""

    async def refund(self, idempotency_key: str) -> bool:
        """Refund the charge made with this key; False when there was none (or it is refunded already)."""
