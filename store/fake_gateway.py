"""The fake payment provider's ledger (payments.fake): methods without card digits, charges by key."""

from decimal import Decimal

from store.pool import Conn, fetch_one


async def add_method(conn: Conn, token: str, brand: str, fault: str | None = None) -> None:
    """The payment method a charge was made with (its token carries what the test card does)."""
    await conn.execute(
        "INSERT INTO fake_gateway_methods (token, brand, fault) VALUES (%s, %s, %s) ON CONFLICT (token) DO NOTHING",
        (token, brand, fault),
    )


async def charge_for(conn: Conn, idempotency_key: str) -> dict | None:
    cur = await conn.execute(
        "SELECT charge_id, amount, currency, refunded_at FROM fake_gateway_charges WHERE idempotency_key = %s",
        (idempotency_key,),
    )
    return await cur.fetchone()


async def add_charge(
    conn: Conn, idempotency_key: str, charge_id: str, token: str, amount: Decimal, currency: str
) -> dict:
    """The first charge for a key is the one kept: two racing attempts get the same charge."""
    await conn.execute(
        "INSERT INTO fake_gateway_charges (idempotency_key, charge_id, token, amount, currency)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING",
        (idempotency_key, charge_id, token, amount, currency),
    )
    cur = await conn.execute(
        "SELECT charge_id, amount, currency, refunded_at FROM fake_gateway_charges WHERE idempotency_key = %s",
        (idempotency_key,),
    )
    return await fetch_one(cur)


async def refund(conn: Conn, idempotency_key: str) -> bool:
    cur = await conn.execute(
        "UPDATE fake_gateway_charges SET refunded_at = now() WHERE idempotency_key = %s AND refunded_at IS NULL"
        " RETURNING charge_id",
        (idempotency_key,),
    )
    return await cur.fetchone() is not None


async def start_fault(conn: Conn, idempotency_key: str, fault: str) -> bool:
    """Begin a fault card's fault for this key; False if it began before (each fault happens once)."""
    cur = await conn.execute(
        "INSERT INTO fake_gateway_faults (idempotency_key, fault) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        " RETURNING idempotency_key",
        (idempotency_key, fault),
    )
    return await cur.fetchone() is not None


async def fault_for(conn: Conn, idempotency_key: str) -> dict | None:
    """The key's fault and how long ago it began."""
    cur = await conn.execute(
        "SELECT fault, clock_timestamp() - since AS age FROM fake_gateway_faults WHERE idempotency_key = %s",
        (idempotency_key,),
    )
    return await cur.fetchone()
