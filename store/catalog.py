"""Reading and upserting customers, subscriptions, prices and promotions."""

from enum import Enum
from typing import Any, Literal

from psycopg import sql
from pydantic import BaseModel

from domain.models import Customer, Partner, Price, Promotion, Record, Subscription, TaxRate, Vendor
from store.pool import Conn

Outcome = Literal["new", "changed", "unchanged"]

TABLES: dict[type[Record], tuple[str, tuple[str, ...]]] = {
    Customer: ("customers", ("csn",)),
    Subscription: ("subscriptions", ("id",)),
    Price: ("prices", ("product", "term", "currency")),
    Promotion: ("promotions", ("code",)),
    Partner: ("partners", ("csn",)),
    TaxRate: ("tax_rates", ("country", "valid_from")),
}


def _db_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_db_value(v) for v in value]
    return value


async def upsert(conn: Conn, record: Record) -> Outcome:
    """Insert or update one record; a record equal to the stored row is left untouched."""
    table, keys = TABLES[type(record)]
    row = {name: _db_value(value) for name, value in record.model_dump().items()}
    cols = [sql.Identifier(c) for c in row]
    others = [sql.Identifier(c) for c in row if c not in keys]
    query = sql.SQL(
        "INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT ({keys}) DO UPDATE SET "
        "{sets}, updated_at = now() WHERE ({current}) IS DISTINCT FROM ({incoming}) "
        "RETURNING (xmax = 0) AS inserted"
    ).format(
        table=sql.Identifier(table),
        cols=sql.SQL(", ").join(cols),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in row),
        keys=sql.SQL(", ").join(sql.Identifier(k) for k in keys),
        sets=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in others),
        current=sql.SQL(", ").join(sql.SQL("{t}.{c}").format(t=sql.Identifier(table), c=c) for c in others),
        incoming=sql.SQL(", ").join(sql.SQL("EXCLUDED.{c}").format(c=c) for c in others),
    )
    cur = await conn.execute(query, row)
    result = await cur.fetchone()
    if result is None:
        return "unchanged"
    return "new" if _first(result) else "changed"


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def from_row(model: type[BaseModel], row: dict[str, Any]) -> Any:
    return model.model_validate({k: v for k, v in row.items() if k in model.model_fields})


async def upsert_vendor(conn: Conn, vendor: Vendor) -> Outcome:
    """R28: the one vendor row, as the file gives it."""
    row = vendor.model_dump()
    cur = await conn.execute(
        "INSERT INTO vendor (id, name, country, vat_number, address, iban, bic)"
        " VALUES (true, %(name)s, %(country)s, %(vat_number)s, %(address)s, %(iban)s, %(bic)s)"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,"
        " vat_number = EXCLUDED.vat_number, address = EXCLUDED.address, iban = EXCLUDED.iban, bic = EXCLUDED.bic,"
        " updated_at = now()"
        " WHERE (vendor.name, vendor.country, vendor.vat_number, vendor.address, vendor.iban, vendor.bic)"
        " IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.country, EXCLUDED.vat_number, EXCLUDED.address,"
        " EXCLUDED.iban, EXCLUDED.bic)"
        " RETURNING (xmax = 0) AS inserted",
        row,
    )
    result = await cur.fetchone()
    if result is None:
        return "unchanged"
    return "new" if _first(result) else "changed"


async def get_vendor(conn: Conn) -> Vendor | None:
    cur = await conn.execute("SELECT * FROM vendor")
    row = await cur.fetchone()
    return from_row(Vendor, row) if row else None


async def tax_rates(conn: Conn, countries: list[str] | None = None) -> list[TaxRate]:
    """R28: the dated rates, of some countries or all, oldest first."""
    if countries is None:
        cur = await conn.execute("SELECT * FROM tax_rates ORDER BY country, valid_from")
    else:
        cur = await conn.execute(
            "SELECT * FROM tax_rates WHERE country = ANY(%s) ORDER BY country, valid_from", (sorted(set(countries)),)
        )
    return [from_row(TaxRate, row) for row in await cur.fetchall()]


async def get_partner(conn: Conn, csn: str) -> Partner | None:
    cur = await conn.execute("SELECT * FROM partners WHERE csn = %s", (csn,))
    row = await cur.fetchone()
    return from_row(Partner, row) if row else None


async def get_customer(conn: Conn, csn: str) -> Customer | None:
    cur = await conn.execute("SELECT * FROM customers WHERE csn = %s", (csn,))
    row = await cur.fetchone()
    return from_row(Customer, row) if row else None


async def known_csns(conn: Conn, csns: set[str]) -> set[str]:
    cur = await conn.execute("SELECT csn FROM customers WHERE csn = ANY(%s)", (list(csns),))
    return {_first(row) for row in await cur.fetchall()}


async def subscriptions_by_id(conn: Conn, ids: list[str]) -> dict[str, Subscription]:
    cur = await conn.execute("SELECT * FROM subscriptions WHERE id = ANY(%s)", (ids,))
    return {row["id"]: from_row(Subscription, row) for row in await cur.fetchall()}


async def subscriptions_of(
    conn: Conn, csn: str, limit: int | None = None, after: str | None = None
) -> list[Subscription]:
    """By end date, then id; `limit` of them after the subscription `after` (of this customer: another
    one's, or an unknown id, gives none)."""
    cur = await conn.execute(
        "SELECT * FROM subscriptions WHERE csn = %(csn)s AND (%(after)s::text IS NULL OR (end_date, id) >"
        " (SELECT end_date, id FROM subscriptions WHERE id = %(after)s AND csn = %(csn)s))"
        " ORDER BY end_date, id LIMIT %(limit)s",
        {"csn": csn, "after": after, "limit": limit},
    )
    return [from_row(Subscription, row) for row in await cur.fetchall()]


async def count_rows(conn: Conn) -> dict[str, int]:
    counts = {}
    for table, _ in TABLES.values():
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        counts[table] = _first(await cur.fetchone())
    return counts


async def price_book(conn: Conn, currency: str, products: list[str], on) -> tuple[list[Price], list[Promotion]]:
    """The prices and the promotions valid on a day, for some products in one currency."""
    cur = await conn.execute(
        "SELECT * FROM prices WHERE currency = %s AND product = ANY(%s)", (currency, sorted(set(products)))
    )
    prices = [from_row(Price, row) for row in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT * FROM promotions WHERE starts <= %s AND ends >= %s AND %s = ANY(currencies)", (on, on, currency)
    )
    return prices, [from_row(Promotion, row) for row in await cur.fetchall()]


async def offers(conn: Conn) -> list[Price]:
    """Every price of the price list: what a new purchase may be (product, term, currency), in a stable order."""
    cur = await conn.execute("SELECT * FROM prices ORDER BY product, currency, term")
    return [from_row(Price, row) for row in await cur.fetchall()]


async def stored_subscriptions(conn: Conn, ids: list[str]) -> dict[str, dict]:
    """The rows a load is about to change, locked, with whether a quote holds auto-renew and how the
    current term came about (R18)."""
    cur = await conn.execute(
        """
        SELECT s.*,
               EXISTS (SELECT 1 FROM auto_renew_holds h WHERE h.subscription_id = s.id) AS held,
               r.source AS renewed_source, r.quote_number AS renewed_quote, r.at AS renewed_at,
               r.previous AS renewed_previous
        FROM subscriptions s
        LEFT JOIN LATERAL (
            SELECT source, quote_number, at, previous FROM renewals
            WHERE subscription_id = s.id AND to_end_date = s.end_date ORDER BY at DESC LIMIT 1
        ) r ON true
        WHERE s.id = ANY(%s)
        FOR UPDATE OF s
        """,
        (ids,),
    )
    return {row["id"]: row for row in await cur.fetchall()}


async def mark_source_changed(
    conn: Conn, subscription_id: str, *, reopen: bool = False, switch_from_source: bool = True
) -> None:
    """Its calendar is to be told (source_version moves ahead); `reopen` undoes a lapse of a term the
    source renewed elsewhere; `switch_from_source`: whether the row's auto-renew switch is the file's."""
    await conn.execute(
        "UPDATE subscriptions SET source_version = source_version + 1, auto_renew_from_source = %s,"
        " lapsed_on = CASE WHEN %s THEN NULL ELSE lapsed_on END WHERE id = %s",
        (switch_from_source, reopen, subscription_id),
    )


async def retell_failed_auto_renewals(conn: Conn) -> int:
    """A price book change may fix an auto-renewal that had no price: tell those calendars again."""
    cur = await conn.execute(
        "UPDATE subscriptions s SET source_version = source_version + 1 FROM auto_renew_failures f"
        " WHERE f.subscription_id = s.id AND f.term_end = s.end_date AND s.lapsed_on IS NULL"
    )
    return cur.rowcount


async def insert_new_subscription(conn: Conn, sub: Subscription) -> None:
    """A paid new purchase; its id comes from quote and line, so inserting twice inserts once."""
    await conn.execute(
        "INSERT INTO subscriptions (id, csn, product, seats, term, currency, purchase_method, partner_csn, offering,"
        " start_date, end_date, auto_renew) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (
            sub.id,
            sub.csn,
            sub.product,
            sub.seats,
            sub.term.value,
            sub.currency,
            sub.purchase_method.value,
            sub.partner_csn,
            sub.offering.value,
            sub.start_date,
            sub.end_date,
            sub.auto_renew,
        ),
    )
