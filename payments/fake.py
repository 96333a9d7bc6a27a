"""The default payment provider: a local fake with a real provider's shape, for `renewals dev` and tests.

Test cards (any future expiry, any CVC; README, "Paying"):
  4242 4242 4242 4242, 5555 5555 5555 4444, any other valid number   the charge succeeds
  4000 0000 0000 0002                                                 declined
  4000 0000 0000 9995                                                 declined: insufficient funds
  4000 0000 0000 0069                                                 declined: the card has expired
Its ledger is in PostgreSQL, so the web app (tokenize) and any worker (charge) share it, and a
charge is kept once per idempotency key across retries and processes. Declines are not kept:
the buyer may try another card under the same key.
"""

import secrets

from payments.gateway import Card, CardDeclined, Charge, ChargeRequest
from store import fake_gateway as ledger
from store.pool import Pool

DECLINES = {
    "4000000000000002": "your card was declined",
    "4000000000009995": "your card was declined: insufficient funds",
    "4000000000000069": "your card has expired",
}


def brand(digits: str) -> str:
    return {"4": "visa", "5": "mastercard", "3": "amex"}.get(digits[0], "card")


class FakeGateway:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def tokenize(self, card: Card) -> str:
        digits = card.number.get_secret_value()
        token = "pm_fake_" + secrets.token_urlsafe(18)
        async with self.pool.connection() as conn:
            await ledger.add_method(conn, token, brand(digits), DECLINES.get(digits))
        return token

    async def charge(self, request: ChargeRequest) -> Charge:
        async with self.pool.connection() as conn:
            row = await ledger.charge_for(conn, request.idempotency_key)
            if row is None:
                method = await ledger.method(conn, request.payment_method)
                if method is None:
                    raise CardDeclined("the payment details have expired; enter your card again")
                if method["decline"]:
                    raise CardDeclined(method["decline"])
                row = await ledger.add_charge(
                    conn,
                    request.idempotency_key,
                    "ch_fake_" + secrets.token_hex(10),
                    request.payment_method,
                    request.amount,
                    request.currency,
                )
        return Charge(id=row["charge_id"], amount=row["amount"], currency=row["currency"])

    async def refund(self, idempotency_key: str) -> bool:
        async with self.pool.connection() as conn:
            return await ledger.refund(conn, idempotency_key)
