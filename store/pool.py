"""One async connection pool per process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

# Every connection of the pool returns rows as dicts.
Conn = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Conn]


@asynccontextmanager
async def open_pool(database_url: str, *, max_size: int = 10, wait: bool = True) -> AsyncIterator[Pool]:
    """`wait`: fail at once if the database does not answer; without it, the first query waits for it (a
    command that may not need the store, like paying a quote, works while the store is down)."""
    pool = Pool(
        database_url,
        connection_class=Conn,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        open=False,
        name="renewals",
    )
    await pool.open(wait=wait, timeout=15)
    try:
        yield pool
    finally:
        await pool.close()


async def fetch_one(cur: AsyncCursor[DictRow]) -> DictRow:
    """The one row a statement with RETURNING (or an aggregate) always gives."""
    row = await cur.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row
