"""stripe_payment_intents: the Stripe PaymentIntent of each quote's key (payments/stripe.py)."""

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


async def intent_for(conn: Conn, idempotency_key: str) -> str | None:
    cur = await conn.execute(
        "SELECT intent_id FROM stripe_payment_intents WHERE idempotency_key = %s", (idempotency_key,)
    )
    row = await cur.fetchone()
    return row["intent_id"] if row else None
