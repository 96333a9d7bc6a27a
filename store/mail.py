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
    """True unless an earlier attempt already sent this Message-ID."""
    cur = await conn.execute(
        "INSERT INTO sent_mail (message_id, quote_number, subscription_id, recipient, purpose, subject, status)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'sending')"
        " ON CONFLICT (message_id) DO UPDATE SET message_id = EXCLUDED.message_id RETURNING status",
        (message_id, quote_number, subscription_id, recipient, purpose, subject),
    )
    return (await fetch_one(cur))["status"] != "sent"


async def mark_sent(conn: Conn, message_id: str) -> None:
    await conn.execute("UPDATE sent_mail SET status = 'sent', sent_at = now() WHERE message_id = %s", (message_id,))
