"""The default payment provider: a local fake with a real provider's shape, for `renewals dev` and tests.

Test cards (any future expiry, any CVC; docs/walkthrough.md, "Paying"):
  4242 4242 4242 4242, 5555 5555 5555 4444, any other valid number   the charge succeeds
  4000 0000 0000 0002                                                 declined
  4000 0000 0000 9995                                                 declined: insufficient funds
  4000 0000 0000 0069                                                 declined: the card has expired
  4000 0000 0000 0119   the provider answers 503 for this key for 90 s from the first charge, then works
  4000 0000 0000 5126   the charge is taken but its answer is lost, and the provider is unreachable for
                        this key for 5 minutes (charge and find alike), then works
A token carries the card's brand and what the test card does, never its digits. The ledger is in
PostgreSQL, so any worker shares it, and a charge is kept once per idempotency key across retries and
processes. Declines are not kept: the buyer may try another card under the same key.
"""

import re
import secrets
from datetime import timedelta

from payments.gateway import Card, CardDeclined, Charge, ChargeRequest, OutcomeUnknown, ProviderUnavailable
from store import fake_gateway as ledger
from store.pool import Pool

# What each test card does, carried in its token (never the digits): tokenizing needs no store, so a
# buyer can pay while the database is down (R20), the charge waiting for it.
KINDS = {
    "4000000000000002": "declined",
    "4000000000009995": "insufficient",
    "4000000000000069": "expired",
    "4000000000000119": "unavailable",
    "4000000000005126": "answer-lost",
}
DECLINES = {
    "declined": "your card was declined",
    "insufficient": "your card was declined: insufficient funds",
    "expired": "your card has expired",
}
FAULTS = ("unavailable", "answer-lost")
TOKEN = re.compile(
    r"pm_fake_(visa|mastercard|amex|card)_(ok|declined|insufficient|expired|unavailable|answer-lost)_[A-Za-z0-9_-]+"
)


def brand(digits: str) -> str:
    return {"4": "visa", "5": "mastercard", "3": "amex"}.get(digits[0], "card")


class FakeGateway:
    def __init__(
        self, pool: Pool, unavailable_for: timedelta = timedelta(seconds=90), lost_for: timedelta = timedelta(minutes=5)
    ) -> None:
        """`unavailable_for` and `lost_for`: how long the fault cards' faults last (shorter in tests)."""
        self.pool = pool
        self.unavailable_for = unavailable_for
        self.lost_for = lost_for

    async def tokenize(self, card: Card) -> str:
        digits = card.number.get_secret_value()
        return f"pm_fake_{brand(digits)}_{KINDS.get(digits, 'ok')}_{secrets.token_urlsafe(18)}"

    async def charge(self, request: ChargeRequest) -> Charge:
        key = request.idempotency_key
        failure: Exception | None = None
        async with self.pool.connection() as conn:
            await self._unreachable(conn, key)
            row = await ledger.charge_for(conn, key)
            if row is None:
                method = TOKEN.fullmatch(request.payment_method)  # all of it: a token with a NUL is none
                if method is None:
                    raise CardDeclined("the payment details have expired; enter your card again")
                card_brand, kind = method.groups()
                if kind in DECLINES:
                    raise CardDeclined(DECLINES[kind])
                fault = kind if kind in FAULTS else None
                await ledger.add_method(conn, request.payment_method, card_brand, fault)
                if kind == "unavailable" and await ledger.start_fault(conn, key, "unavailable"):
                    failure = ProviderUnavailable(f"the payment provider answered 503 for {key}")
                else:
                    charge_id = "ch_fake_" + secrets.token_hex(10)
                    row = await ledger.add_charge(
                        conn, key, charge_id, request.payment_method, request.amount, request.currency
                    )
                    if kind == "answer-lost" and await ledger.start_fault(conn, key, "answer-lost"):
                        failure = OutcomeUnknown(f"the payment provider's answer for {key} was lost")
            await conn.commit()
        if failure is not None:  # raised once what the provider did is kept
            raise failure
        assert row is not None
        return _charge(row)

    async def find(self, idempotency_key: str) -> Charge | None:
        async with self.pool.connection() as conn:
            await self._unreachable(conn, idempotency_key)
            row = await ledger.charge_for(conn, idempotency_key)
        return _charge(row) if row else None

    async def refund(self, idempotency_key: str) -> bool:
        async with self.pool.connection() as conn:
            await self._unreachable(conn, idempotency_key)
            return await ledger.refund(conn, idempotency_key)

    async def _unreachable(self, conn, key: str) -> None:
        """A fault card's fault, while it lasts for this key."""
        fault = await ledger.fault_for(conn, key)
        if fault is None:
            return
        lasts = self.unavailable_for if fault["fault"] == "unavailable" else self.lost_for
        if fault["age"] < lasts:
            raise ProviderUnavailable(f"the payment provider is unreachable for {key} (test card fault)")


def _charge(row: dict) -> Charge:
    return Charge(
        id=row["charge_id"], amount=row["amount"], currency=row["currency"], refunded=row["refunded_at"] is not None
    )
