"""Ordered SQL migrations, each applied once and recorded in schema_migrations."""

from dataclasses import dataclass
from importlib import resources

from store.pool import Conn

# Any fixed number: concurrent migrators (several workers starting at once) queue on it.
_LOCK_ID = 7_233_001


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def migrations() -> list[Migration]:
    folder = resources.files("store") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


async def migrate(conn: Conn) -> list[str]:
    """Apply what is not yet applied; return the versions applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row["version"] if isinstance(row, dict) else row[0] for row in await cur.fetchall()}
        for migration in migrations():
            if migration.version in done:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
            applied_now.append(migration.version)
    return applied_now
