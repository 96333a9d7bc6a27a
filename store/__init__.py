"""PostgreSQL, the system of record: pool, migrations and queries (all parameterised)."""
