"""sent_mail: one row per message, keyed by its Message-ID, written `sending` before the SMTP call and
`sent` after it, so a retried email activity sends nothing twice."""

from store.pool import Conn, fetch_one


async def claim_message(
    conn: Conn,
    message_id: str,
    quote_number: str | None,
    subscription_id: str | None,
    recipient: str,
    purpose: str,
    subject: str,
) -> bool:
    """True unless an earlier attempt already sent this Message-ID (or the server refused its recipient)."""
    cur = await conn.execute(
        "INSERT INTO sent_mail (message_id, quote_number, subscription_id, recipient, purpose, subject, status)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'sending')"
        " ON CONFLICT (message_id) DO UPDATE SET message_id = EXCLUDED.message_id RETURNING status",
        (message_id, quote_number, subscription_id, recipient, purpose, subject),
    )
    return (await fetch_one(cur))["status"] == "sending"


async def mark_sent(conn: Conn, message_id: str) -> None:
    await conn.execute("UPDATE sent_mail SET status = 'sent', sent_at = now() WHERE message_id = %s", (message_id,))


async def mark_refused(conn: Conn, message_id: str, failure: str) -> None:
    """The mail server refused this recipient for good: recorded, never retried."""
    await conn.execute(
        "UPDATE sent_mail SET status = 'refused', failure = %s WHERE message_id = %s", (failure, message_id)
    )


async def refused_mail(conn: Conn) -> list[dict]:
    """Messages whose recipient the mail server refused, newest first (for `renewals ops stuck`)."""
    cur = await conn.execute(
        "SELECT message_id, quote_number, subscription_id, recipient, purpose, failure, sent_at FROM sent_mail"
        " WHERE status = 'refused' ORDER BY sent_at DESC LIMIT 100"
    )
    return list(await cur.fetchall())
