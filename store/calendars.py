"""What the renewal calendars read and write: lapses, failed auto-renewals, which calendars to tell."""

from datetime import date

from store.pool import Conn


async def subscription_row(conn: Conn, subscription_id: str) -> dict | None:
    cur = await conn.execute("SELECT * FROM subscriptions WHERE id = %s", (subscription_id,))
    return await cur.fetchone()


async def record_lapse(conn: Conn, subscription_id: str, end_date: date) -> bool:
    cur = await conn.execute(
        "UPDATE subscriptions SET lapsed_on = %s, updated_at = now()"
        " WHERE id = %s AND end_date = %s AND lapsed_on IS NULL RETURNING id",
        (end_date, subscription_id, end_date),
    )
    return await cur.fetchone() is not None


async def record_auto_renew_failure(conn: Conn, subscription_id: str, term_end: date, reason: str) -> None:
    await conn.execute(
        "INSERT INTO auto_renew_failures (subscription_id, term_end, reason) VALUES (%s, %s, %s)"
        " ON CONFLICT (subscription_id, term_end) DO UPDATE SET reason = EXCLUDED.reason, at = now()",
        (subscription_id, term_end, reason),
    )


async def open_auto_renew_failures(conn: Conn) -> list[dict]:
    """Failures of terms that are still open: the subscription still ends on that day, not lapsed."""
    cur = await conn.execute(
        "SELECT f.subscription_id, f.term_end, f.reason, f.at FROM auto_renew_failures f"
        " JOIN subscriptions s ON s.id = f.subscription_id AND s.end_date = f.term_end AND s.lapsed_on IS NULL"
        " ORDER BY f.at"
    )
    return list(await cur.fetchall())


async def calendars_to_tell(conn: Conn, subscription_ids: list[str] | None) -> list[dict]:
    """Rows a load changed that their calendar has not yet been told of; or, when named, these rows."""
    if subscription_ids is None:
        cur = await conn.execute(
            "SELECT * FROM subscriptions WHERE calendar_synced_version < source_version AND lapsed_on IS NULL"
            " ORDER BY id"
        )
    else:
        cur = await conn.execute(
            "SELECT * FROM subscriptions WHERE id = ANY(%s) AND lapsed_on IS NULL ORDER BY id", (subscription_ids,)
        )
    return list(await cur.fetchall())


async def mark_told(conn: Conn, told: list[tuple[str, int]]) -> None:
    """These calendars were told their rows up to these versions: (subscription id, source version)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE subscriptions SET calendar_synced_version = greatest(calendar_synced_version, %s) WHERE id = %s",
            [(version, sub_id) for sub_id, version in told],
        )


async def all_open_subscription_ids(conn: Conn) -> list[str]:
    cur = await conn.execute("SELECT id FROM subscriptions WHERE lapsed_on IS NULL ORDER BY id")
    return [row["id"] for row in await cur.fetchall()]


async def ending_on(conn: Conn, subscription_ids: list[str], day: date) -> list[dict]:
    """The open subscriptions among these whose term ends on `day` (their auto-renewal falls at its 00:00
    UTC): id and auto-renew switch, by id."""
    cur = await conn.execute(
        "SELECT id, auto_renew FROM subscriptions WHERE id = ANY(%s) AND end_date = %s AND lapsed_on IS NULL"
        " ORDER BY id",
        (subscription_ids, day),
    )
    return list(await cur.fetchall())
