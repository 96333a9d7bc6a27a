"""The buyer's account (R24): sign-in links used once, sessions found by the hash of their cookie, and the
customers whose buyer contact an address is."""

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from domain.models import Customer
from store.catalog import from_row
from store.pool import Conn


class SessionRow(BaseModel):
    email: str
    csn: str | None
    expires_at: datetime


async def buyer_of(conn: Conn, email: str) -> list[Customer]:
    """The customers whose buyer contact this address is (in any letter case), by name."""
    cur = await conn.execute(
        "SELECT csn, name, email, address FROM customers WHERE lower(email) = lower(%s) ORDER BY name, csn", (email,)
    )
    return [from_row(Customer, row) for row in await cur.fetchall()]


async def sign_ins_since(conn: Conn, email: str, since: datetime) -> int:
    """How many sign-in links were sent to this address (in any letter case) after `since`."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM account_sign_ins WHERE lower(email) = lower(%s) AND created_at > %s", (email, since)
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def create_sign_in(
    conn: Conn, sign_in_id: str, email: str, now: datetime, expires_at: datetime, limits: Sequence[tuple[datetime, int]]
) -> bool:
    """A new sign-in for this address, made only while every limit holds: for each (since, most), fewer than
    `most` sign-ins to the address (in any letter case) made after `since`. False, and nothing made, if one
    is reached.

    Atomic: the count and the insert run in one transaction under a lock on the lower-cased address
    (`pg_advisory_xact_lock`), so two requests at once for one address are counted one after the other and
    never both pass the last place; requests for other addresses do not wait for it."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sign-in:' || lower(%s)))", (email,))
        for since, most in limits:
            if await sign_ins_since(conn, email, since) >= most:
                return False
        await conn.execute(
            "INSERT INTO account_sign_ins (id, email, created_at, expires_at) VALUES (%s, %s, %s, %s)",
            (sign_in_id, email, now, expires_at),
        )
    return True


async def sign_in_email(conn: Conn, sign_in_id: str) -> tuple[str, datetime] | None:
    """The address and expiry of a sign-in not used yet (for its email)."""
    cur = await conn.execute(
        "SELECT email, expires_at FROM account_sign_ins WHERE id = %s AND used_at IS NULL", (sign_in_id,)
    )
    row = await cur.fetchone()
    return None if row is None else (row["email"], row["expires_at"])


async def use_sign_in(conn: Conn, sign_in_id: str, now: datetime) -> str | None:
    """The address of a sign-in that is still valid, marked used in the same statement (so two clicks, or
    a replayed link, open one session at most); None if it is unknown, used or expired."""
    cur = await conn.execute(
        "UPDATE account_sign_ins SET used_at = %(now)s"
        " WHERE id = %(id)s AND used_at IS NULL AND expires_at > %(now)s RETURNING email",
        {"id": sign_in_id, "now": now},
    )
    row = await cur.fetchone()
    return None if row is None else row["email"]


async def create_session(conn: Conn, id_hash: str, email: str, csn: str | None, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO account_sessions (id_hash, email, csn, expires_at) VALUES (%s, %s, %s, %s)",
        (id_hash, email, csn, expires_at),
    )


async def get_session(conn: Conn, id_hash: str, now: datetime) -> SessionRow | None:
    cur = await conn.execute(
        "SELECT email, csn, expires_at FROM account_sessions"
        " WHERE id_hash = %s AND ended_at IS NULL AND expires_at > %s",
        (id_hash, now),
    )
    row = await cur.fetchone()
    return None if row is None else SessionRow.model_validate(row)


async def pick_customer(conn: Conn, id_hash: str, csn: str) -> None:
    await conn.execute("UPDATE account_sessions SET csn = %s WHERE id_hash = %s", (csn, id_hash))


async def end_session(conn: Conn, id_hash: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE account_sessions SET ended_at = %s WHERE id_hash = %s AND ended_at IS NULL", (now, id_hash)
    )


async def drop_sign_in(conn: Conn, sign_in_id: str) -> None:
    """A sign-in whose email could not be started: it never counts against the address's limit."""
    await conn.execute("DELETE FROM account_sign_ins WHERE id = %s AND used_at IS NULL", (sign_in_id,))


async def purge(conn: Conn, before: datetime) -> tuple[int, int]:
    """Sign-ins and sessions that stopped working before `before`: (sign-ins, sessions) deleted."""
    sign_ins = await conn.execute("DELETE FROM account_sign_ins WHERE expires_at < %s", (before,))
    sessions = await conn.execute(
        "DELETE FROM account_sessions WHERE expires_at < %s OR ended_at < %s", (before, before)
    )
    return sign_ins.rowcount, sessions.rowcount
