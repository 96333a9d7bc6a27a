"""Quotes, their lines, recipients, events, payments and sent mail in PostgreSQL."""

import json
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from domain.quotes import Quote, quote_number
from store.pool import Conn, fetch_one


async def next_quote_number(conn: Conn) -> str:
    cur = await conn.execute("SELECT nextval('quote_number_seq') AS n")
    return quote_number((await fetch_one(cur))["n"])


async def save_quote(
    conn: Conn, quote: Quote, event: str, detail: dict | None = None, earlier_events: tuple[str, ...] = ()
) -> bool:
    """Write the snapshot unless a newer revision is stored; log the event (after `earlier_events`, steps
    saved in the same write) once. True if written. Every statement goes in one round trip (a pipeline):
    the lines and recipients are replaced only if the stored revision is now this one."""
    document = json.loads(quote.model_dump_json())
    async with conn.transaction(), conn.pipeline():
        cur = await conn.execute(
            """
            INSERT INTO quotes (number, kind, origin, csn, currency, partner_csn, state, address,
                subtotal, discount_total, total, sent_at, expires_at, revision, customer_name,
                buyer_email, pause_auto_renew, pricing_error, accepted_at, paid_at, ended_at, document,
                created_at, updated_at)
            VALUES (%(number)s, %(kind)s, %(origin)s, %(csn)s, %(currency)s, %(partner_csn)s, %(state)s,
                %(address)s, %(subtotal)s, %(discount_total)s, %(total)s, %(sent_at)s, %(expires_at)s,
                %(revision)s, %(customer_name)s, %(buyer_email)s, %(pause_auto_renew)s, %(pricing_error)s,
                %(accepted_at)s, %(paid_at)s, %(ended_at)s, %(document)s, coalesce(%(created_at)s, now()), now())
            ON CONFLICT (number) DO UPDATE SET
                state = EXCLUDED.state, address = EXCLUDED.address, subtotal = EXCLUDED.subtotal,
                discount_total = EXCLUDED.discount_total, total = EXCLUDED.total, sent_at = EXCLUDED.sent_at,
                expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision,
                pricing_error = EXCLUDED.pricing_error, accepted_at = EXCLUDED.accepted_at,
                paid_at = EXCLUDED.paid_at, ended_at = EXCLUDED.ended_at, document = EXCLUDED.document,
                updated_at = now()
            WHERE quotes.revision < EXCLUDED.revision
            RETURNING number
            """,
            {
                **quote.model_dump(
                    include={
                        "number",
                        "csn",
                        "currency",
                        "partner_csn",
                        "address",
                        "subtotal",
                        "discount_total",
                        "total",
                        "sent_at",
                        "expires_at",
                        "revision",
                        "customer_name",
                        "buyer_email",
                        "pause_auto_renew",
                        "pricing_error",
                        "accepted_at",
                        "paid_at",
                        "ended_at",
                        "created_at",
                    }
                ),
                "kind": quote.kind.value,
                "origin": quote.origin.value,
                "state": quote.state.value,
                "document": Jsonb(document),
            },
        )
        await _replace_lines(conn, quote)
        async with conn.cursor() as events:
            await events.executemany(
                "INSERT INTO quote_events (quote_number, event_key, event, detail) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (quote_number, event_key) DO NOTHING",
                [
                    (quote.number, f"{quote.revision}:{name}", name, Jsonb(data))
                    for name, data in [*((e, {}) for e in earlier_events), (event, detail or {})]
                ],
            )
        written = await cur.fetchone() is not None
    return written


# Only when the snapshot just written (or an identical one written before) is the stored one.
_CURRENT = "EXISTS (SELECT 1 FROM quotes WHERE number = %s AND revision = %s)"


async def _replace_lines(conn: Conn, quote: Quote) -> None:
    current = (quote.number, quote.revision)
    await conn.execute(f"DELETE FROM quote_lines WHERE quote_number = %s AND {_CURRENT}", (quote.number, *current))
    await conn.execute(f"DELETE FROM quote_recipients WHERE quote_number = %s AND {_CURRENT}", (quote.number, *current))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO quote_lines (quote_number, line_no, subscription_id, product, seats, term, unit_price,"
            " amount, discount, promotion_code, current_seats, current_term, end_date)"
            " SELECT %s::text, %s::int, %s::text, %s::text, %s::int, %s::text, coalesce(%s::numeric, 0),"
            " coalesce(%s::numeric, 0), %s::numeric, %s::text, %s::int, %s::text, %s::date"
            f" WHERE {_CURRENT}",
            [
                (
                    quote.number,
                    i + 1,
                    line.subscription_id,
                    line.product,
                    line.seats,
                    line.term.value,
                    line.unit_price,
                    line.amount,
                    line.discount,
                    line.promotion,
                    line.current_seats,
                    line.current_term.value if line.current_term else None,
                    line.end_date,
                    *current,
                )
                for i, line in enumerate(quote.lines)
            ],
        )
        await cur.executemany(
            "INSERT INTO quote_recipients (quote_number, email, is_buyer) SELECT %s::text, %s::text, %s::boolean"
            f" WHERE {_CURRENT}"
            " ON CONFLICT DO NOTHING",
            [(quote.number, email, i == 0, *current) for i, email in enumerate(quote.all_recipients)],
        )


async def get_quote(conn: Conn, number: str) -> Quote | None:
    cur = await conn.execute("SELECT document FROM quotes WHERE number = %s", (number,))
    row = await cur.fetchone()
    return Quote.model_validate(row["document"]) if row and row["document"] else None


async def list_quotes(
    conn: Conn, csn: str | None = None, state: str | None = None, limit: int | None = None, after: str | None = None
) -> list[Quote]:
    """By number; `limit` of them after the number `after`, if given."""
    cur = await conn.execute(
        "SELECT document FROM quotes WHERE (%(csn)s::text IS NULL OR csn = %(csn)s)"
        " AND (%(state)s::text IS NULL OR state = %(state)s) AND (%(after)s::text IS NULL OR number > %(after)s)"
        " AND document IS NOT NULL ORDER BY number LIMIT %(limit)s",
        {"csn": csn, "state": state, "after": after, "limit": limit},
    )
    return [Quote.model_validate(row["document"]) for row in await cur.fetchall()]


async def ended_quotes_of(conn: Conn, csn: str, recipient: str | None, limit: int) -> list[Quote]:
    """A customer's paid, expired and cancelled quotes, the last to end first, at most `limit`; with a
    `recipient`, only those sent to that address (R19)."""
    cur = await conn.execute(
        "SELECT document FROM quotes q WHERE csn = %(csn)s AND state IN ('paid', 'expired', 'cancelled')"
        " AND document IS NOT NULL AND (%(recipient)s::text IS NULL OR EXISTS (SELECT 1 FROM quote_recipients r"
        " WHERE r.quote_number = q.number AND lower(r.email) = lower(%(recipient)s::text)))"
        " ORDER BY coalesce(ended_at, paid_at, updated_at) DESC, number DESC LIMIT %(limit)s",
        {"csn": csn, "recipient": recipient, "limit": limit},
    )
    return [Quote.model_validate(row["document"]) for row in await cur.fetchall()]


async def quote_events(conn: Conn, number: str) -> list[dict]:
    cur = await conn.execute(
        "SELECT event, detail, at FROM quote_events WHERE quote_number = %s ORDER BY id", (number,)
    )
    return list(await cur.fetchall())


async def holds_of(conn: Conn, subscription_ids: list[str]) -> dict[str, list[str]]:
    cur = await conn.execute(
        "SELECT subscription_id, quote_number FROM auto_renew_holds WHERE subscription_id = ANY(%s)"
        " ORDER BY quote_number",
        (subscription_ids,),
    )
    holds: dict[str, list[str]] = {}
    for row in await cur.fetchall():
        holds.setdefault(row["subscription_id"], []).append(row["quote_number"])
    return holds


async def drop_hold(conn: Conn, subscription_id: str, quote_number: str) -> None:
    await conn.execute(
        "DELETE FROM auto_renew_holds WHERE subscription_id = %s AND quote_number = %s", (subscription_id, quote_number)
    )


async def sync_auto_renew(
    conn: Conn,
    subscription_id: str,
    auto_renew: bool,
    held_by: list[str],
    version: int,
    reserved_by: str | None = None,
) -> bool:
    """Mirror the subscription workflow's switch, holds and reservation, unless a newer version is stored."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE subscriptions SET auto_renew = %s, auto_renew_version = %s, reserved_by = %s, updated_at = now()"
            " WHERE id = %s AND auto_renew_version < %s RETURNING id",
            (auto_renew, version, reserved_by, subscription_id, version),
        )
        if await cur.fetchone() is None:
            return False
        await conn.execute("DELETE FROM auto_renew_holds WHERE subscription_id = %s", (subscription_id,))
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO auto_renew_holds (subscription_id, quote_number) VALUES (%s, %s)",
                [(subscription_id, q) for q in held_by],
            )
    return True


RECORDED, OURS, THEIRS, MOVED = "recorded", "ours", "theirs", "moved"


async def record_renewal(
    conn: Conn,
    subscription_id: str,
    from_end_date: date,
    to_end_date: date,
    seats: int,
    term: str,
    source: str,
    quote_number: str | None,
    amount: Decimal | None = None,
    currency: str | None = None,
    to_partner: str | None = None,
    to_currency: str | None = None,
) -> tuple[str, dict | None]:
    """Renew one subscription term once (the renewals key is subscription and old end date), and say how:
    RECORDED now; OURS, recorded before by this same source and quote (a retry); THEIRS, renewed by
    another (the row says who); MOVED, the stored end date is no longer `from_end_date` (a load moved it:
    renewed elsewhere; the row is the subscription). Nothing is written unless RECORDED."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT id, end_date, seats, term, partner_csn, purchase_method, currency FROM subscriptions"
            " WHERE id = %s FOR UPDATE",
            (subscription_id,),
        )
        sub = await fetch_one(cur)
        cur = await conn.execute(
            "SELECT source, quote_number, to_end_date FROM renewals WHERE subscription_id = %s AND from_end_date = %s",
            (subscription_id, from_end_date),
        )
        done = await cur.fetchone()
        if done is not None:
            return (OURS if (done["source"], done["quote_number"]) == (source, quote_number) else THEIRS), done
        if sub["end_date"] != from_end_date:
            return MOVED, sub
        previous = {k: sub[k] for k in ("seats", "term", "partner_csn", "purchase_method", "currency")}
        await conn.execute(
            "INSERT INTO renewals (subscription_id, from_end_date, to_end_date, seats, term, source, quote_number,"
            " amount, currency, previous) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                subscription_id,
                from_end_date,
                to_end_date,
                seats,
                term,
                source,
                quote_number,
                amount,
                currency,
                Jsonb(previous),
            ),
        )
        await conn.execute(
            "UPDATE subscriptions SET end_date = %s, seats = %s, term = %s,"
            " partner_csn = coalesce(%s, partner_csn),"
            " purchase_method = CASE WHEN %s::text IS NULL THEN purchase_method ELSE 'partner' END,"
            " currency = coalesce(%s, currency), updated_at = now() WHERE id = %s",
            (to_end_date, seats, term, to_partner, to_partner, to_currency, subscription_id),
        )
    return RECORDED, None


class TermToRenew(NamedTuple):
    subscription_id: str
    from_end_date: date
    to_end_date: date
    seats: int
    term: str
    to_partner: str | None = None  # R25
    to_currency: str | None = None


async def record_quote_renewals(
    conn: Conn, quote_number: str, terms: list[TermToRenew]
) -> dict[str, tuple[str, dict | None]]:
    """R16: a quote's terms renew together or not at all. Each is recorded as `record_renewal` does, in one
    transaction (rows locked in id order); if any was renewed by another or moved by a load, nothing at all
    is written, so the money can go back whole without leaving a term renewed for free."""
    outcomes: dict[str, tuple[str, dict | None]] = {}
    async with conn.transaction() as tx:
        for t in sorted(terms, key=lambda t: t.subscription_id):
            outcomes[t.subscription_id] = await record_renewal(
                conn,
                t.subscription_id,
                t.from_end_date,
                t.to_end_date,
                t.seats,
                t.term,
                "quote",
                quote_number,
                to_partner=t.to_partner,
                to_currency=t.to_currency,
            )
        if any(outcome in (THEIRS, MOVED) for outcome, _ in outcomes.values()):
            raise psycopg.Rollback(tx)
    return outcomes


async def undo_renewal(conn: Conn, subscription_id: str, from_end_date: date, quote_number: str) -> None:
    """Take back a quote's renewal its calendar did not grant (the store was written first): the end date, and
    the seats, term, partner and currency as they were before it (R25)."""
    async with conn.transaction():
        cur = await conn.execute(
            "DELETE FROM renewals WHERE subscription_id = %s AND from_end_date = %s AND quote_number = %s"
            " RETURNING to_end_date, previous",
            (subscription_id, from_end_date, quote_number),
        )
        undone = await cur.fetchone()
        if undone is None:
            return
        before = undone["previous"] or {}
        await conn.execute(
            "UPDATE subscriptions SET end_date = %s, seats = coalesce(%s, seats), term = coalesce(%s, term),"
            " partner_csn = CASE WHEN %s THEN %s ELSE partner_csn END,"
            " purchase_method = coalesce(%s, purchase_method), currency = coalesce(%s, currency),"
            " updated_at = now() WHERE id = %s AND end_date = %s",
            (
                from_end_date,
                before.get("seats"),
                before.get("term"),
                "purchase_method" in before,
                before.get("partner_csn"),
                before.get("purchase_method"),
                before.get("currency"),
                subscription_id,
                undone["to_end_date"],
            ),
        )


async def renewal_of(conn: Conn, subscription_id: str, from_end_date: date) -> dict | None:
    """Who renewed the term that ended on `from_end_date`, if it was renewed."""
    cur = await conn.execute(
        "SELECT * FROM renewals WHERE subscription_id = %s AND from_end_date = %s", (subscription_id, from_end_date)
    )
    return await cur.fetchone()


async def renewals_of(conn: Conn, subscription_id: str) -> list[dict]:
    cur = await conn.execute(
        "SELECT * FROM renewals WHERE subscription_id = %s ORDER BY from_end_date", (subscription_id,)
    )
    return list(await cur.fetchall())


async def lock_revisions_of(conn: Conn, number: str) -> None:
    """Until this transaction ends, nobody else makes a revision of quote `number` (R23: one open at a time),
    from any process."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('revise:' || %s))", (number,))


async def open_revisions(conn: Conn, number: str) -> list[str]:
    """The revisions of quote `number` that have not ended (R23)."""
    cur = await conn.execute(
        "SELECT number FROM quotes WHERE document->>'revises' = %s AND state IN ('draft', 'sent', 'accepted')"
        " ORDER BY number",
        (number,),
    )
    return [row["number"] for row in await cur.fetchall()]


async def renewals_of_customer(conn: Conn, csn: str) -> int:
    """How many terms of a customer's subscriptions were renewed (`make bench`'s burst counts them)."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM renewals r JOIN subscriptions s ON s.id = r.subscription_id WHERE s.csn = %s",
        (csn,),
    )
    return int((await fetch_one(cur))["n"])


async def sent_auto_quotes_of(conn: Conn, csn: str) -> int:
    """How many of a customer's auto quotes (R12) are sent (`make bench`'s burst of auto quotes counts them)."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM quotes WHERE csn = %s AND origin = 'auto' AND state = 'sent'", (csn,)
    )
    return int((await fetch_one(cur))["n"])
