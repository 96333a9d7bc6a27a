"""The payment step, behind a gateway interface; card data goes to the gateway and nowhere else."""

import hashlib
from typing import Protocol

from pydantic import BaseModel, Field, SecretStr, field_validator

from domain.quotes import Quote


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


class PaymentGateway(Protocol):
    async def charge(self, quote: Quote, card: Card) -> str:
        """Charge the quote's total once; return the payment reference."""


class RecordingGateway:
    """The default: accepts any valid card and returns a reference fixed per quote, so the same click
    twice pays once. Replace it with a real payment provider's client in production."""

    async def charge(self, quote: Quote, card: Card) -> str:
        return "PAY-" + hashlib.sha256(f"{quote.number}|{quote.total}|{quote.currency}".encode()).hexdigest()[:12].upper()
