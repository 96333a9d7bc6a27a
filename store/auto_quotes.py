"""R12: the number of a subscription term's auto quote, allocated once."""

from datetime import date

from store.pool import Conn, fetch_one


async def auto_quote_number(conn: Conn, subscription_id: str, term_end: date, candidate: str) -> str:
    """The term's auto quote number: `candidate` if the term has none yet, else the one it has."""
    await conn.execute(
        "INSERT INTO auto_quotes (subscription_id, term_end, quote_number) VALUES (%s, %s, %s)"
        " ON CONFLICT (subscription_id, term_end) DO NOTHING",
        (subscription_id, term_end, candidate),
    )
    cur = await conn.execute(
        "SELECT quote_number FROM auto_quotes WHERE subscription_id = %s AND term_end = %s", (subscription_id, term_end)
    )
    return (await fetch_one(cur))["quote_number"]
