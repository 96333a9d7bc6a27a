"""Idempotency keys of the backend API: the first request with a key fixes its quote number and body, for
24 hours. Keys are stored scoped by the API key that sent them (`<client>:<key>`)."""

from pydantic import BaseModel

from store.pool import Conn, fetch_one


class KeyedRequest(BaseModel):
    quote_number: str
    fingerprint: str


KEPT_FOR = "24 hours"


async def find_key(conn: Conn, key: str) -> KeyedRequest | None:
    """The request a key named within the last 24 hours, if any."""
    cur = await conn.execute(
        "SELECT quote_number, fingerprint FROM api_idempotency_keys"
        f" WHERE key = %s AND created_at > now() - interval '{KEPT_FOR}'",
        (key,),
    )
    row = await cur.fetchone()
    return None if row is None else KeyedRequest.model_validate(row)


async def claim_key(conn: Conn, key: str, fingerprint: str, quote_number: str) -> KeyedRequest:
    """The request this key names: this one if the key is new, else the first one (two racing requests
    with one key both get the first)."""
    await conn.execute(
        f"DELETE FROM api_idempotency_keys WHERE key = %s AND created_at <= now() - interval '{KEPT_FOR}'", (key,)
    )
    await conn.execute(
        "INSERT INTO api_idempotency_keys (key, fingerprint, quote_number) VALUES (%s, %s, %s)"
        " ON CONFLICT (key) DO NOTHING",
        (key, fingerprint, quote_number),
    )
    cur = await conn.execute("SELECT quote_number, fingerprint FROM api_idempotency_keys WHERE key = %s", (key,))
    return KeyedRequest.model_validate(await fetch_one(cur))
