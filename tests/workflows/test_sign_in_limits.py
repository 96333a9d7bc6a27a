"""The buyer's sign-in mail (R24) is limited per address, in any letter case: at most 5 an hour and 20 a day,
counted and made in one locked transaction in the store, so requests at the same moment never pass the limit
together. A refused request answers the same as any other (the page always says "check your email")."""

import asyncio
from datetime import UTC, datetime, timedelta
from unittest.mock import AsyncMock

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from services.account import SIGN_IN_EMAILS_PER_ADDRESS, AccountService
from services.quotes import QuoteService
from services.subscriptions import SubscriptionService
from store.pool import open_pool
from tests.helpers import quote_stack, scalar

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUYER = "buyer@acme.example"
# The same address as typed by someone else: the limit is the address's, whatever its letter case.
SPELLINGS = [BUYER, BUYER.upper(), "Buyer@Acme.Example", "bUYER@acme.EXAMPLE"]


def sign_in_mails(mailbox) -> list:
    return [m for m in mailbox.messages() if m["To"] == BUYER and "sign-in link" in m["Subject"]]


async def until_mails(mailbox, count: int) -> None:
    for _ in range(200):
        if len(sign_in_mails(mailbox)) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # and no more arrive


def account_with(client, pool, settings) -> AccountService:
    quotes = QuoteService(client, pool, settings.temporal_task_queue)
    subs = SubscriptionService(client, pool, settings.temporal_task_queue)
    return AccountService(
        client, pool, settings.temporal_task_queue, quotes, subs, LinkSigner(settings.require_link_secrets())
    )


async def a_buyer(pool) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO customers (csn, name, email, address) VALUES ('5100000001', 'Acme BV', %s, 'Main St 1')",
            (BUYER,),
        )


async def warm(pool, size: int) -> None:
    """Every connection of the pool opened first, so the requests really run side by side."""

    async def hold() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.2)")

    await asyncio.gather(*(hold() for _ in range(size)))


async def test_the_limits_are_5_an_hour_and_20_a_day() -> None:
    assert SIGN_IN_EMAILS_PER_ADDRESS == ((timedelta(hours=1), 5), (timedelta(days=1), 20))


async def test_sign_in_mail_is_limited_to_5_an_hour_per_address(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings):
        account = account_with(env.client, pool, settings)
        now = datetime.now(UTC)
        # Five, ten minutes apart, then three more within the same hour.
        times = [now + timedelta(minutes=m) for m in (0, 10, 20, 30, 40, 45, 50, 59)]
        started = [await account.request_sign_in(SPELLINGS[i % 4], at) for i, at in enumerate(times)]
        assert started == [True] * 5 + [False] * 3
        await until_mails(mailbox, 5)
        assert len(sign_in_mails(mailbox)) == 5
        assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 5
        # An hour after the first, one place is free again; the next is refused.
        later = now + timedelta(hours=1, seconds=1)
        assert [await account.request_sign_in(BUYER, later), await account.request_sign_in(BUYER, later)] == [
            True,
            False,
        ]
        await until_mails(mailbox, 6)
        assert len(sign_in_mails(mailbox)) == 6


async def test_sign_in_mail_is_limited_to_20_a_day_per_address(pool, settings) -> None:
    """Four an hour (never the hourly limit) for six hours: the 21st of the day is refused, and sends
    nothing, until the first is a day old."""
    client = AsyncMock()
    account = account_with(client, pool, settings)
    await a_buyer(pool)
    start = datetime.now(UTC)
    started = [await account.request_sign_in(SPELLINGS[i % 4], start + timedelta(minutes=15 * i)) for i in range(24)]
    assert started == [True] * 20 + [False] * 4
    assert client.start_workflow.await_count == 20
    assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 20
    next_day = start + timedelta(days=1, minutes=1)
    assert await account.request_sign_in(BUYER, next_day) is True
    assert await account.request_sign_in(BUYER, next_day) is False  # the second of that day is 20 again
    assert client.start_workflow.await_count == 21


async def test_sign_in_mail_limit_ignores_other_addresses_and_unknown_ones(pool, settings) -> None:
    client = AsyncMock()
    account = account_with(client, pool, settings)
    await a_buyer(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO customers (csn, name, email, address) VALUES ('5100000002', 'Other BV', 'cfo@other.example',"
            " 'Side St 2')"
        )
    now = datetime.now(UTC)
    assert [await account.request_sign_in(BUYER, now) for _ in range(6)] == [True] * 5 + [False]
    assert await account.request_sign_in("cfo@other.example", now) is True
    assert await account.request_sign_in("nobody@acme.example", now) is False
    assert await scalar(pool, "SELECT count(*) FROM account_sign_ins WHERE email = 'nobody@acme.example'") == 0


async def test_concurrent_sign_in_requests_never_pass_the_limit(
    env: WorkflowEnvironment, pool, settings, database_url, mailbox
) -> None:
    """Forty requests at once, on twenty connections: exactly five rows and five mails, never more."""
    async with quote_stack(env, pool, settings), open_pool(database_url, max_size=20) as wide:
        account = account_with(env.client, wide, settings)
        await warm(wide, 20)
        now = datetime.now(UTC)
        started = await asyncio.gather(*(account.request_sign_in(SPELLINGS[i % 4], now) for i in range(40)))
        assert sorted(started).count(True) == 5
        assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 5
        await until_mails(mailbox, 5)
        assert len(sign_in_mails(mailbox)) == 5


async def test_concurrent_sign_in_requests_in_many_rounds_never_pass_the_limit(pool, settings, database_url) -> None:
    """Without Temporal (every start counted): rounds of requests at once, each round a new hour."""
    client = AsyncMock()
    await a_buyer(pool)
    async with open_pool(database_url, max_size=16) as wide:
        account = account_with(client, wide, settings)
        await warm(wide, 16)
        start = datetime.now(UTC)
        for hour in range(3):
            now = start + timedelta(hours=hour, minutes=1)
            started = await asyncio.gather(*(account.request_sign_in(SPELLINGS[i % 4], now) for i in range(32)))
            assert started.count(True) == 5, hour
    assert client.start_workflow.await_count == 15
    assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 15


async def test_a_sign_in_over_the_limit_answers_as_any_other(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    """The page says "check your email" alike to the first ask and to one over the limit: whether an address
    is a buyer's, or has had its mails, is never told (the in-memory per-minute limit set high here)."""
    from tests.workflows.test_account import account_site, ask_link
    from web.security import PostLimit

    limit = PostLimit(per_sign_in_address=100, per_sign_in_email=100)
    async with account_site(env, pool, settings, limit=limit) as (_quotes, web):
        answers = [await ask_link(web, SPELLINGS[i % 4]) for i in range(7)]
        await until_mails(mailbox, 5)
    assert {a.status_code for a in answers} == {200}
    texts = {a.text.replace(SPELLINGS[i % 4], "") for i, a in enumerate(answers)}
    assert len(texts) == 1 and "Check your email" in texts.pop()
    assert len(sign_in_mails(mailbox)) == 5
    assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 5
