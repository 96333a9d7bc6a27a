"""payments: one row per paid quote, written once the money is taken (or an offline payment recorded)."""

from decimal import Decimal

from store.pool import Conn, fetch_one


async def record_payment(
    conn: Conn,
    quote_number: str,
    reference: str,
    amount: Decimal,
    currency: str,
    method: str = "offline",
    recorded_by: str | None = None,
) -> str:
    """The first reference recorded for a quote is the one kept: paying twice pays once."""
    cur = await conn.execute(
        "INSERT INTO payments (quote_number, reference, amount, currency, method, recorded_by)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (quote_number) DO UPDATE SET quote_number = EXCLUDED.quote_number RETURNING reference",
        (quote_number, reference, amount, currency, method, recorded_by),
    )
    return (await fetch_one(cur))["reference"]


async def mark_refunded(conn: Conn, quote_number: str) -> None:
    await conn.execute(
        "UPDATE payments SET refunded_at = now() WHERE quote_number = %s AND refunded_at IS NULL", (quote_number,)
    )


async def payment_of(conn: Conn, quote_number: str) -> dict | None:
    """The quote's payment row (reference, amount, method, refunded_at), if one was recorded."""
    cur = await conn.execute("SELECT * FROM payments WHERE quote_number = %s", (quote_number,))
    return await cur.fetchone()
