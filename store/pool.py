"""One async connection pool per process."""

from contextlib import asynccontextmanager
from typing import AsyncIterator

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


@asynccontextmanager
async def open_pool(database_url: str, *, max_size: int = 10) -> AsyncIterator[AsyncConnectionPool]:
    pool = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        open=False,
        name="renewals",
    )
    await pool.open(wait=True, timeout=15)
    try:
        yield pool
    finally:
        await pool.close()
