"""invoices (R28): issued once per quote and kind, numbered from one gapless sequence per year, in the caller's
transaction (the payment's or the refund's), so that a rollback takes the number back. Never updated or deleted
(the table's triggers refuse it)."""

import json

from psycopg.types.json import Jsonb

from domain.invoices import Invoice, InvoiceKind
from store.pool import Conn, fetch_one


async def issue(conn: Conn, draft: Invoice) -> Invoice:
    """The quote's invoice (or credit note) as issued: numbered now, or the one issued before (a retry, a crash
    between the payment and its answer). Two at once for one quote wait for each other (an advisory lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('invoice:' || %s || ':' || %s))", (draft.quote_number, draft.kind)
    )
    earlier = await invoice_of(conn, draft.quote_number, draft.kind)
    if earlier is not None:
        return earlier
    year = draft.issued_at.year
    cur = await conn.execute(
        "INSERT INTO invoice_counters (year, last) VALUES (%s, 1)"
        " ON CONFLICT (year) DO UPDATE SET last = invoice_counters.last + 1 RETURNING last",
        (year,),
    )
    seq = (await fetch_one(cur))["last"]
    issued = draft.model_copy(update={"number": f"INV-{year}-{seq:06d}"})
    await conn.execute(
        "INSERT INTO invoices (number, year, seq, kind, quote_number, refers_to, issued_at, currency, total, document)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            issued.number,
            year,
            seq,
            issued.kind,
            issued.quote_number,
            issued.refers_to,
            issued.issued_at,
            issued.currency,
            issued.total,
            Jsonb(json.loads(issued.model_dump_json())),
        ),
    )
    return issued


async def invoice_of(conn: Conn, quote_number: str, kind: InvoiceKind = "invoice") -> Invoice | None:
    cur = await conn.execute(
        "SELECT document FROM invoices WHERE quote_number = %s AND kind = %s", (quote_number, kind)
    )
    row = await cur.fetchone()
    return Invoice.model_validate(row["document"]) if row else None


async def get_invoice(conn: Conn, number: str) -> Invoice | None:
    cur = await conn.execute("SELECT document FROM invoices WHERE number = %s", (number,))
    row = await cur.fetchone()
    return Invoice.model_validate(row["document"]) if row else None


async def invoices_of_year(
    conn: Conn, year: int, limit: int | None = None, starting_after: str | None = None
) -> list[Invoice]:
    """A year's invoices and credit notes in number order; `limit` of them after `starting_after` (a page)."""
    cur = await conn.execute(
        "SELECT document FROM invoices WHERE year = %s AND (%s::text IS NULL OR number > %s) ORDER BY seq LIMIT %s",
        (year, starting_after, starting_after, limit),
    )
    return [Invoice.model_validate(row["document"]) for row in await cur.fetchall()]


async def sequence_gaps(conn: Conn) -> list[str]:
    """R28: each year's numbers run 1..last with none missing (what `ops audit` checks)."""
    cur = await conn.execute(
        "SELECT c.year, c.last, count(i.number) AS issued, coalesce(max(i.seq), 0) AS top"
        " FROM invoice_counters c LEFT JOIN invoices i ON i.year = c.year GROUP BY c.year, c.last ORDER BY c.year"
    )
    return [
        f"invoices of {row['year']}: {row['issued']} issued for numbers 1..{row['last']}"
        for row in await cur.fetchall()
        if row["issued"] != row["last"] or row["top"] != row["last"]
    ]
