"""`renewals ops stuck` on the dev server: finds the quote whose email activity fails while SMTP is down."""

import asyncio
import contextlib
import json

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import quote_workflow_id
from services.ops import stuck_workflows
from tests.helpers import free_port, quote_stack, renewals, request, worker_with

pytestmark = pytest.mark.asyncio(loop_scope="session")


def overflowing_worker(env: WorkflowEnvironment, pool, settings, attempts: list):
    """The real worker, but pricing fails with a data error (not retried), noting each attempt."""
    import psycopg.errors
    from temporalio import activity

    from activities.pricing import PriceQuoteInput, PriceQuoteResult
    from runtime.temporal import activities

    @activity.defn(name="price_quote")
    async def overflowing_price(input: PriceQuoteInput) -> PriceQuoteResult:
        attempts.append((activity.info().workflow_id, activity.info().attempt))
        raise psycopg.errors.NumericValueOutOfRange("numeric field overflow")

    real = [a for a in activities(env.client, pool, settings) if a.__name__ != "price_quote"]
    return worker_with(env.client, settings, [*real, overflowing_price])


async def test_ops_stuck_finds_email_retrying_while_smtp_is_down(
    dev_env: WorkflowEnvironment, pool, settings, cli_env
) -> None:
    down = settings.model_copy(update={"smtp_port": free_port()})
    async with quote_stack(dev_env, pool, down) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        draft = await quotes.create(request("SUB-1003"))
        handle = dev_env.client.get_workflow_handle(quote_workflow_id(quote.number))
        for _ in range(150):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].attempt >= 2:
                break
            await asyncio.sleep(0.1)
        found = {}
        for _ in range(50):
            found = {s.workflow_id: s for s in await stuck_workflows(dev_env.client, days=0) if s.attempt}
            if handle.id in found:
                break
            await asyncio.sleep(0.2)
        stuck = found[handle.id]
        assert (stuck.reason, stuck.detail, stuck.state) == ("activity retrying", "send_quote_emails", "sent")
        assert stuck.attempt >= 2 and "refused" in stuck.last_failure.lower()

        shell = cli_env | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "DATABASE_URL": settings.require_database_url(),
        }
        listed = await asyncio.to_thread(renewals, "ops", "stuck", "--days", "31", "--json", env=shell)
        rows = json.loads(listed.stdout)
        reasons = {(r["workflow_id"], r["reason"]) for r in rows}
        assert (handle.id, "activity retrying") in reasons
        assert (handle.id, "sent, expires within 31 day(s), no action") in reasons
        assert (quote_workflow_id(draft.number), "draft older than 31 day(s)") not in reasons
        table = await asyncio.to_thread(renewals, "ops", "stuck", env=shell)
        assert "send_quote_emails (attempt" in table.stdout
        await handle.terminate("test finished")


async def test_ops_stuck_shows_a_quote_that_cannot_go_on(dev_env: WorkflowEnvironment, pool, settings) -> None:
    """A business or data failure in an activity is not retried: the quote stops once, says why in its
    current details, and `renewals ops stuck` lists it with the reason."""
    from domain.errors import Stopped

    attempts: list[tuple[str, int]] = []
    worker = overflowing_worker(dev_env, pool, settings, attempts)
    async with quote_stack(dev_env, pool, settings, worker=worker) as quotes:
        with pytest.raises(Stopped) as stopped:
            await quotes.create(request("SUB-1001"))
        assert "cannot go on" in stopped.value.message
        (workflow_id, _), *_ = attempts
        number = workflow_id.removeprefix("quote-")
        handle = dev_env.client.get_workflow_handle(workflow_id)
        details = (await handle.query("__temporal_workflow_metadata")).current_details
        found = {}
        for _ in range(50):
            found = {s.workflow_id: s for s in await stuck_workflows(dev_env.client, days=1)}
            if handle.id in found:
                break
            await asyncio.sleep(0.2)
    assert [attempt for _, attempt in attempts] == [1]
    assert f"{number} · draft" in details and "stopped: " in details
    assert "NumericValueOutOfRange: numeric field overflow" in details
    stuck = found[handle.id]
    assert stuck.reason == "stopped: cannot go on"
    assert "NumericValueOutOfRange: numeric field overflow" in stuck.detail


async def test_ops_stuck_shows_a_webhook_delivery_retrying_while_the_receiver_is_down(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    from pydantic import SecretStr

    from domain.webhooks import receiver_id

    url = f"http://127.0.0.1:{free_port()}/webhooks"
    hooked = settings.model_copy(update={"webhook_urls": url, "webhook_secret": SecretStr("whsec_ops")})
    async with quote_stack(dev_env, pool, hooked) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        handle = dev_env.client.get_workflow_handle(quote_workflow_id(quote.number))
        found = []
        for _ in range(100):
            found = [s for s in await stuck_workflows(dev_env.client, days=0) if s.workflow_id == handle.id]
            if found:
                break
            await asyncio.sleep(0.2)
        shown = await quotes.show(quote.number)
    (stuck,) = found
    assert (stuck.reason, stuck.state, shown.state.value) == ("webhook delivery retrying", "sent", "sent")
    assert stuck.detail.startswith("webhook quote.sent evt_") and stuck.detail.endswith(f" to {receiver_id(url)}")
    assert stuck.attempt >= 2 and stuck.last_failure


async def test_quote_that_stops_before_its_first_update_is_reported_with_its_reason(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    """The first update can reach a quote that has already stopped (its first step failed at once): the
    caller hears why it cannot go on, never "unknown quote"."""
    from temporalio.client import WorkflowFailureError

    from domain.errors import NotFound, Stopped
    from services.quotes import QuoteService

    class LateUpdates(QuoteService):
        async def _update(self, handle, update, arg, action="changed"):
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            raise NotFound(f"unknown quote {handle.id}")

    async with quote_stack(dev_env, pool, settings, worker=overflowing_worker(dev_env, pool, settings, [])):
        late = LateUpdates(dev_env.client, pool, settings.temporal_task_queue)
        with pytest.raises(Stopped) as stopped:
            await late.create(request("SUB-1001"))
    assert "cannot go on: InvalidData: NumericValueOutOfRange: numeric field overflow" in stopped.value.message


async def test_a_quote_that_cannot_go_on_is_a_503_in_the_api_and_exit_1_on_the_command_line(
    dev_env: WorkflowEnvironment, pool, settings, cli_env
) -> None:
    """Not a refusal (exit 2, 409) and never a traceback or a 500: the caller hears the quote stopped, and why."""
    import httpx

    from domain.links import LinkSigner
    from runtime.app import open_app
    from runtime.settings import parse_api_keys
    from tests.helpers import BASE
    from web.api import create_api
    from web.app import create_app
    from workers.demo_data import ACME

    shell = cli_env | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
    }
    async with quote_stack(dev_env, pool, settings, worker=overflowing_worker(dev_env, pool, settings, [])):
        args = ("quote", "create", "--csn", ACME, "--subscription", "SUB-1001")
        created = await asyncio.to_thread(renewals, *args, env=shell)
        as_json = await asyncio.to_thread(renewals, *args, "--json", env=shell)
        async with open_app(settings, pool=pool, client=dev_env.client) as app:
            web = create_app(
                lambda: app.quotes,
                LinkSigner(settings.require_link_secrets()),
                lambda: app.gateway,
                api=create_api(lambda: app, parse_api_keys("ops:rk_ops:write")),
            )
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE) as http:
                answer = await http.post(
                    "/api/v1/quotes",
                    json={"csn": ACME, "subscriptions": ["SUB-1003"]},
                    headers={"Authorization": "Bearer rk_ops"},
                )
    assert created.returncode == 1 and "Traceback" not in created.stderr
    assert created.stderr.startswith("error: quote Q-") and "cannot go on: InvalidData" in created.stderr
    assert as_json.returncode == 1 and "cannot go on" in json.loads(as_json.stdout)["error"]["message"]
    assert answer.status_code == 503
    assert "cannot go on: InvalidData: NumericValueOutOfRange" in answer.json()["error"]["message"]


async def test_ops_stuck_lists_a_quote_accepted_and_unpaid_for_longer_than_asked(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    from datetime import UTC, datetime, timedelta

    async with quote_stack(dev_env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        workflow_id = quote_workflow_id(quote.number)
        later = datetime.now(UTC) + timedelta(days=3)
        found = []
        for _ in range(50):  # visibility is eventually consistent
            found = [
                s for s in await stuck_workflows(dev_env.client, days=2, now=later) if s.workflow_id == workflow_id
            ]
            if found:
                break
            await asyncio.sleep(0.2)
        assert [(s.state, s.reason) for s in found] == [("accepted", "accepted, unpaid for more than 2 day(s)")]
        # Asked about a longer time than it has waited, it is not stuck.
        assert workflow_id not in {s.workflow_id for s in await stuck_workflows(dev_env.client, days=5, now=later)}
