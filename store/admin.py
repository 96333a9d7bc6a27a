"""Setting up a database server the embedded stack (and the tests) own."""

import psycopg
from psycopg import sql


def ensure_database(server_url: str, name: str) -> None:
    """Create the database `name` on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
