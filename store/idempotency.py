"""Idempotency keys of the backend API: the first request with a key fixes its quote number and body."""

from pydantic import BaseModel

from store.pool import Conn, fetch_one


class KeyedRequest(BaseModel):
    quote_number: str
    fingerprint: str


async def claim_key(conn: Conn, key: str, fingerprint: str, quote_number: str) -> KeyedRequest:
    """The request this key names: this one if the key is new, else the first one (two racing requests
    with one key both get the first)."""
    await conn.execute(
        "INSERT INTO api_idempotency_keys (key, fingerprint, quote_number) VALUES (%s, %s, %s)"
        " ON CONFLICT (key) DO NOTHING",
        (key, fingerprint, quote_number),
    )
    cur = await conn.execute("SELECT quote_number, fingerprint FROM api_idempotency_keys WHERE key = %s", (key,))
    return KeyedRequest.model_validate(await fetch_one(cur))
