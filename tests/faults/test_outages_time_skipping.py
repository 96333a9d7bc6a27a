"""R20 on the time-skipping server, where hours and days pass in seconds: the store, the calendars and
auto-renew failing for two hours, the mail server down, a webhook receiver down for a day. Each case: 20
quotes being paid and 10 auto-renewals due; once the outage is over, paid once, renewed once, audit clean."""

import uuid
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from tests.faults.scene import Scene
from tests.helpers import Mailbox, Outage, free_port, pass_time, quote_stack, scalar, until, webhook_events
from workers.serving import serve
from workers.smtp_sink import start_smtp_sink
from workers.webhook_sink import PATH, WebhookSink

pytestmark = pytest.mark.asyncio(loop_scope="session")
DOWN = ("save_quote", "attach_quote", "reserve_terms", "renew_terms", "release_terms", "auto_renew", "detach_quote")


def impatient(settings):
    """Buyers who wait one second for their payment before hearing it is pending."""
    return settings.model_copy(update={"payment_wait_seconds": 1.0})


@pytest.mark.timeout(600)
async def test_r20_store_calendar_and_auto_renew_steps_failing_for_two_hours_then_recovering(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    outage, settings = Outage(), impatient(settings)
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        scene = Scene(env, pool, settings, quotes, gateway)
        await scene.prepare((await env.get_current_time()).date(), uuid.uuid4().hex[:4])
        tokens = await scene.tokens()
        outage.down.update(DOWN)
        await scene.start_auto_renewals()
        answers = await scene.pay_all(tokens)
        assert {a.payment for a in answers} == {"pending"}, answers
        await pass_time(env, timedelta(hours=2))
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        assert outage.calls["reserve_terms"] > 20 and outage.calls["auto_renew"] > 10
        outage.down.clear()
        await pass_time(env, timedelta(minutes=3), step=timedelta(seconds=10))  # 30 workflows go on at once
        await scene.settled(calendars=False)


@pytest.mark.timeout(600)
async def test_r20_the_mail_server_down_delays_every_email_and_loses_none(
    env: WorkflowEnvironment, pool, settings, gateway, tmp_path
) -> None:
    port = free_port()
    down = settings.model_copy(update={"smtp_port": port})
    async with quote_stack(env, pool, down, gateway=gateway) as quotes:
        scene = Scene(env, pool, down, quotes, gateway)
        await scene.prepare((await env.get_current_time()).date(), uuid.uuid4().hex[:4])
        await scene.start_auto_renewals()
        answers = await scene.pay_all()
        assert {a.state for a in answers} == {QuoteState.PAID}  # nothing waits for the mail
        # Every email retries at once early on: short steps keep each call to the test server short.
        await pass_time(env, timedelta(hours=1), step=timedelta(minutes=2))
        assert await scalar(pool, "SELECT count(*) FROM sent_mail WHERE status = 'sent'") == 0
        server = start_smtp_sink(tmp_path / "mail", "127.0.0.1", port)
        try:
            await env.sleep(timedelta(minutes=3))
            expected = 2 * len(scene.numbers) + len(scene.due)  # quote and paid emails, renewal confirmations
            await until(lambda: _sent(pool, expected), "every email delivered once the server is back", tries=600)
            await scene.settled(calendars=False)
        finally:
            server.stop()
    assert len(Mailbox.read(tmp_path / "mail")) == expected


async def _sent(pool, n: int) -> bool:
    return await scalar(pool, "SELECT count(*) FROM sent_mail WHERE status = 'sent'") >= n


@pytest.mark.timeout(600)
async def test_r20_a_webhook_receiver_down_for_a_day_delays_nothing_and_gets_every_event(
    env: WorkflowEnvironment, pool, settings, gateway, tmp_path
) -> None:
    port = free_port()
    hooked = settings.model_copy(
        update={"webhook_urls": f"http://127.0.0.1:{port}{PATH}", "webhook_secret": SecretStr("whsec_faults")}
    )
    async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
        scene = Scene(env, pool, hooked, quotes, gateway)
        await scene.prepare((await env.get_current_time()).date(), uuid.uuid4().hex[:4])
        await scene.start_auto_renewals()
        answers = await scene.pay_all()
        assert {a.state for a in answers} == {QuoteState.PAID}  # nothing waits for a receiver
        await pass_time(env, timedelta(days=1))
        stop = await serve(WebhookSink(tmp_path / "hooks", "whsec_faults").app(), "127.0.0.1", port)
        try:
            await env.sleep(timedelta(hours=2))
            await until(lambda: _paid_events(tmp_path / "hooks", 20), "every quote.paid delivered", tries=600)
            await scene.settled(calendars=False)
        finally:
            await stop()
    events = webhook_events(tmp_path / "hooks")
    assert len({e.id for e in events}) == len(events)  # each event kept once
    assert sum(e.type == "subscription.renewed" for e in events) >= len(scene.due)


async def _paid_events(folder, n: int) -> bool:
    return sum(e.type == "quote.paid" for e in webhook_events(folder)) >= n
