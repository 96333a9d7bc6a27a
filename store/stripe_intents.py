"""stripe_payment_intents: the Stripe PaymentIntent of each quote's key (payments/stripe.py)."""

from datetime import datetime

from store.pool import Conn, fetch_one


async def remember(conn: Conn, idempotency_key: str, intent_id: str) -> str:
    """The first intent stored for a key is the one kept: two racing attempts charge one intent."""
    cur = await conn.execute(
        "INSERT INTO stripe_payment_intents (idempotency_key, intent_id) VALUES (%s, %s)"
        " ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key"
        " RETURNING intent_id",
        (idempotency_key, intent_id),
    )
    return (await fetch_one(cur))["intent_id"]


async def replace(conn: Conn, idempotency_key: str, cancelled: str, intent_id: str) -> str:
    """The key's intent after `cancelled` (which can never charge): the first replacement stored is kept."""
    cur = await conn.execute(
        "UPDATE stripe_payment_intents SET intent_id = %s, confirmed_at = NULL"
        " WHERE idempotency_key = %s AND intent_id = %s RETURNING intent_id",
        (intent_id, idempotency_key, cancelled),
    )
    row = await cur.fetchone()
    if row is not None:
        return row["intent_id"]
    return await intent_for(conn, idempotency_key) or intent_id


async def confirming(conn: Conn, intent_id: str) -> None:
    """A payment method is about to be confirmed on the intent: an authentication it asks for starts now."""
    await conn.execute("UPDATE stripe_payment_intents SET confirmed_at = now() WHERE intent_id = %s", (intent_id,))


async def intent_for(conn: Conn, idempotency_key: str) -> str | None:
    record = await record_of(conn, idempotency_key)
    return record[0] if record else None


async def record_of(conn: Conn, idempotency_key: str) -> tuple[str, datetime | None] | None:
    """The key's intent and when a payment method was last confirmed on it."""
    cur = await conn.execute(
        "SELECT intent_id, confirmed_at FROM stripe_payment_intents WHERE idempotency_key = %s", (idempotency_key,)
    )
    row = await cur.fetchone()
    return (row["intent_id"], row["confirmed_at"]) if row else None
