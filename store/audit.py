"""What `renewals ops audit` reads: every quote that was accepted (or those of a window of days), the
money recorded for each, the renewals, the holds and reservations, and the subscriptions that should have a calendar."""

from datetime import UTC, date, datetime, time

from store.pool import Conn


async def accepted_quotes(conn: Conn, since: date | None = None) -> list[dict]:
    """Each quote that was ever accepted (the only ones money can be taken for), or that has a payment
    recorded whatever its state says (a workflow that lost its last steps can show `sent` while the store
    kept the payment), with that payment (method None: none recorded) and whether it is still being
    confirmed. With `since`, only those that are still open or were accepted, paid, refunded or ended
    that day or later (each time in UTC)."""
    cur = await conn.execute(
        "SELECT q.number, q.state, q.total + coalesce((q.document->>'tax_total')::numeric, 0) AS total, q.currency, q.document->>'payment' AS payment,"
        " p.reference, p.amount AS paid_amount, p.method, p.refunded_at"
        " FROM quotes q LEFT JOIN payments p ON p.quote_number = q.number"
        " WHERE (q.accepted_at IS NOT NULL OR p.quote_number IS NOT NULL) AND (%(since)s::timestamptz IS NULL"
        " OR q.state NOT IN ('paid', 'expired', 'cancelled')"
        " OR greatest(q.accepted_at, q.paid_at, q.ended_at, p.at, p.refunded_at) >= %(since)s::timestamptz)"
        " ORDER BY q.number",
        {"since": datetime.combine(since, time(), UTC) if since else None},
    )
    return list(await cur.fetchall())


async def renewal_lines_of_paid_quotes(conn: Conn) -> list[dict]:
    cur = await conn.execute(
        "SELECT l.quote_number, l.subscription_id, l.end_date FROM quote_lines l"
        " JOIN quotes q ON q.number = l.quote_number"
        " WHERE q.state = 'paid' AND l.subscription_id IS NOT NULL AND l.end_date IS NOT NULL"
        " ORDER BY l.quote_number, l.line_no"
    )
    return list(await cur.fetchall())


async def renewals(conn: Conn) -> list[dict]:
    cur = await conn.execute(
        "SELECT r.subscription_id, r.from_end_date, r.source, r.quote_number, q.state AS quote_state"
        " FROM renewals r LEFT JOIN quotes q ON q.number = r.quote_number ORDER BY r.subscription_id, r.from_end_date"
    )
    return list(await cur.fetchall())


async def holds_and_reservations(conn: Conn) -> list[dict]:
    """Each hold and each mirrored reservation, with the state of the quote it belongs to (None: unknown)."""
    cur = await conn.execute(
        "SELECT h.subscription_id, h.quote_number, 'hold' AS kind, q.state FROM auto_renew_holds h"
        " LEFT JOIN quotes q ON q.number = h.quote_number"
        " UNION ALL"
        " SELECT s.id, s.reserved_by, 'reservation', q.state FROM subscriptions s"
        " LEFT JOIN quotes q ON q.number = s.reserved_by WHERE s.reserved_by LIKE 'Q-%%'"
        " ORDER BY 1, 2"
    )
    return list(await cur.fetchall())


async def open_subscription_ids(conn: Conn) -> list[str]:
    cur = await conn.execute("SELECT id FROM subscriptions WHERE lapsed_on IS NULL ORDER BY id")
    return [row["id"] for row in await cur.fetchall()]


async def payments_and_invoices(conn: Conn) -> list[dict]:
    """R28: each payment recorded, whether refunded, and how many invoices and credit notes its quote has."""
    cur = await conn.execute(
        "SELECT p.quote_number, p.refunded_at,"
        " count(*) FILTER (WHERE i.kind = 'invoice') AS invoices,"
        " count(*) FILTER (WHERE i.kind = 'credit_note') AS credit_notes"
        " FROM payments p LEFT JOIN invoices i ON i.quote_number = p.quote_number"
        " GROUP BY p.quote_number, p.refunded_at ORDER BY p.quote_number"
    )
    return list(await cur.fetchall())
