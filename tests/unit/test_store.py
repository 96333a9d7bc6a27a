"""The store on real PostgreSQL: migrations once, loading as an all-or-nothing upsert."""

import json
from datetime import date

import pytest
from psycopg_pool import AsyncConnectionPool

from domain.errors import BadInput
from store.catalog import count_rows, get_customer, subscriptions_of
from store.loader import load, parse_data_file
from store.migrate import migrate, migrations
from workers.demo_data import ACME, demo_data

TODAY = date(2026, 11, 26)


async def table_dump(conn, table: str) -> list[dict]:
    cur = await conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in await cur.fetchall()]


async def test_migrations_apply_once(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        assert await migrate(conn) == []
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in await cur.fetchall()] == [m.version for m in migrations()]


async def test_migrations_are_ordered_files() -> None:
    versions = [m.version for m in migrations()]
    assert versions == sorted(versions) and versions[0].startswith("0001_")


async def test_load_then_reload_changes_nothing(pool: AsyncConnectionPool) -> None:
    data = demo_data(TODAY)
    async with pool.connection() as conn:
        first = await load(conn, data)
        before = {t: await table_dump(conn, t) for t in ("customers", "subscriptions", "prices", "promotions")}
        cur = await conn.execute("SELECT max(updated_at) AS at FROM subscriptions")
        stamp = (await cur.fetchone())["at"]
        second = await load(conn, data)
        after = {t: await table_dump(conn, t) for t in before}
        cur = await conn.execute("SELECT max(updated_at) AS at FROM subscriptions")
        assert (await cur.fetchone())["at"] == stamp
    assert first.total("new") == len(data.customers) + len(data.subscriptions) + len(data.prices) + len(
        data.promotions
    ) + len(data.partners)
    assert second.total("new") == second.total("changed") == 0
    assert before == after


async def test_load_updates_a_changed_record(pool: AsyncConnectionPool) -> None:
    data = demo_data(TODAY)
    raw = json.loads(data.model_dump_json())
    raw["subscriptions"][0]["seats"] = 9
    async with pool.connection() as conn:
        await load(conn, data)
        result = await load(conn, parse_data_file(json.dumps(raw)))
        subs = await subscriptions_of(conn, ACME)
    assert result.counts["subscriptions"]["changed"] == 1
    assert next(s for s in subs if s.id == "SUB-1001").seats == 9


async def test_subscription_of_unknown_customer_writes_nothing(pool: AsyncConnectionPool) -> None:
    raw = json.loads(demo_data(TODAY).model_dump_json())
    raw["subscriptions"][5]["csn"] = "5199999999"
    async with pool.connection() as conn:
        with pytest.raises(BadInput) as caught:
            await load(conn, parse_data_file(json.dumps(raw)))
        assert caught.value.details == [
            "subscriptions[5].csn: unknown customer 5199999999 (not in this file's customers nor in the store)"
        ]
        assert set((await count_rows(conn)).values()) == {0}


async def test_subscription_of_customer_already_stored_loads(pool: AsyncConnectionPool) -> None:
    data = demo_data(TODAY)
    async with pool.connection() as conn:
        await load(conn, data.model_copy(update={"subscriptions": []}))
        await load(conn, data.model_copy(update={"customers": []}))
        assert (await count_rows(conn))["subscriptions"] == len(data.subscriptions)


async def test_values_are_parameters_not_sql(pool: AsyncConnectionPool) -> None:
    data = demo_data(TODAY)
    hostile = data.customers[0].model_copy(update={"name": "Robert'); DROP TABLE customers;--"})
    async with pool.connection() as conn:
        await load(conn, data.model_copy(update={"customers": [hostile, *data.customers[1:]]}))
        assert (await get_customer(conn, ACME)).name == "Robert'); DROP TABLE customers;--"


async def test_a_quote_write_is_one_round_trip_and_an_older_revision_never_replaces_a_newer(
    pool: AsyncConnectionPool,
) -> None:
    """save_quote sends its statements in one pipeline: the lines and recipients follow the snapshot only
    when the snapshot is the one stored, so a retried older write leaves the newer one whole."""
    from datetime import UTC, datetime

    from domain.quote_rules import QuoteRequest, build_quote
    from store.quotes import get_quote, save_quote

    async with pool.connection() as conn:
        await migrate(conn)
        data = demo_data(TODAY)
        await load(conn, data)
        customer = await get_customer(conn, ACME)
        subs = [s for s in data.subscriptions if s.id in ("SUB-1001", "SUB-1003")]
        first = build_quote(
            "Q-000777",
            QuoteRequest(csn=ACME, subscription_ids=[s.id for s in subs], recipients=["cfo@acme.example"]),
            customer,
            subs,
            TODAY,
            datetime(2026, 11, 26, tzinfo=UTC),
        )
        newer = first.model_copy(
            update={"revision": 2, "lines": first.lines[:1], "recipients": [], "address": "Damrak 1"}
        )
        assert await save_quote(conn, first, "created")
        assert await save_quote(conn, newer, "edited")
        assert not await save_quote(conn, first.model_copy(update={"revision": 1}), "priced")  # late, older
        lines = await (
            await conn.execute("SELECT subscription_id FROM quote_lines WHERE quote_number = 'Q-000777'")
        ).fetchall()
        recipients = await (
            await conn.execute("SELECT email FROM quote_recipients WHERE quote_number = 'Q-000777'")
        ).fetchall()
        events = await (
            await conn.execute("SELECT event FROM quote_events WHERE quote_number = 'Q-000777' ORDER BY id")
        ).fetchall()
        stored = await get_quote(conn, "Q-000777")
    assert [r["subscription_id"] for r in lines] == ["SUB-1001"]
    assert [r["email"] for r in recipients] == ["buyer@acme.example"]
    assert [r["event"] for r in events] == ["created", "edited", "priced"]  # every step is logged once
    assert stored is not None and stored.revision == 2 and stored.address == "Damrak 1"
