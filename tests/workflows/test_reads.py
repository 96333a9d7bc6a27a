"""Reads come from the store: no page, link check, list or API GET makes a Temporal call, and a buyer's click
is one update (counted by the client's interceptor, runtime/metrics.py), never timed."""

import copy
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from runtime.app import open_app
from runtime.metrics import Metrics
from runtime.settings import parse_api_keys
from store.quotes import get_quote
from tests.helpers import BASE, CARD, form_fields, link_of, quote_result, quote_stack, request, scalar, settled, until
from web.api import create_api
from web.app import create_app
from workers.demo_data import ACME

pytestmark = pytest.mark.asyncio(loop_scope="session")
AUTH = {"Authorization": "Bearer rk_test_key"}


def calls(metrics: Metrics, method: str, route: str) -> float:
    return (
        metrics.registry.get_sample_value("renewals_http_temporal_calls_total", {"method": method, "route": route})
        or 0.0
    )


def temporal_calls(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["call"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "renewals_temporal_calls"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.value
    }


async def sent(quotes, number: str):
    """The stored quote once it is sent (None before: not yet written, or a draft)."""
    async with quotes.pool.connection() as conn:
        stored = await get_quote(conn, number)
    return stored if stored is not None and stored.state.value == "sent" else None


async def counted_web(env: WorkflowEnvironment, pool, settings, gateway, metrics: Metrics):
    """The web app over a Temporal client whose every call the metrics count."""
    client = Client(**{**env.client.config(), "interceptors": [metrics.interceptor()]})
    today = (await env.get_current_time()).date()
    opened = open_app(settings, pool=pool, client=client, today=today)
    app = await opened.__aenter__()
    web = create_app(
        lambda: app.quotes,
        LinkSigner(settings.require_link_secrets()),
        lambda: gateway,
        api=create_api(lambda: app, parse_api_keys("test:rk_test_key:write")),
        metrics_of=metrics,
    )
    return opened, httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE)


async def test_r13_r14_pages_and_api_gets_make_no_temporal_call_and_a_pay_click_is_one_update(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    metrics = Metrics()
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        opened, web = await counted_web(env, pool, settings, gateway, metrics)
        try:
            quote = await quotes.create(request("SUB-1001"), send=True)
            await settled(env.client, quote.number)
            page = await web.get(link_of(mailbox, quote.number))
            assert page.status_code == 200 and quote.number in page.text and "sent" in page.text
            token = form_fields(page.text, f"/quotes/{quote.number}/accept")["token"]
            assert (await web.get(f"/quotes/{quote.number}/pay", params={"token": token})).status_code == 200
            assert (await web.get(f"/quotes/{quote.number}.pdf", params={"token": token})).status_code == 200
            signer = LinkSigner(settings.require_link_secrets())
            listed = signer.customer_token(
                ACME,
                quote.recipients[0] if quote.recipients else quote.buyer_email,
                datetime.now(UTC) + timedelta(days=1),
            )
            assert (await web.get(f"/customers/{ACME}/quotes", params={"token": listed})).status_code == 200
            assert (await web.get(f"/api/v1/quotes/{quote.number}", headers=AUTH)).json()["state"] == "sent"
            assert (await web.get("/api/v1/quotes", headers=AUTH)).status_code == 200
            assert (await web.get(f"/api/v1/quotes/{quote.number}/pdf", headers=AUTH)).status_code == 200
            for route in (
                "/quotes/{number}",
                "/quotes/{number}/pay",
                "/quotes/{number}.pdf",
                "/customers/{csn}/quotes",
                "/api/v1/quotes/{number}",
                "/api/v1/quotes",
                "/api/v1/quotes/{number}/pdf",
            ):
                assert metrics.registry.get_sample_value(
                    "renewals_http_request_seconds_count", {"method": "GET", "route": route, "status": "200"}
                ), route
                assert calls(metrics, "GET", route) == 0, route
            assert temporal_calls(metrics) == {}

            fields = form_fields(
                (await web.get(f"/quotes/{quote.number}/pay", params={"token": token})).text,
                f"/quotes/{quote.number}/pay",
            )
            paid = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD)
            assert paid.status_code == 200 and 'id="state">paid' in paid.text
            assert temporal_calls(metrics) == {"start_workflow_update": 1}
            assert calls(metrics, "POST", "/quotes/{number}/pay") == 1
            # The receipt afterwards is the store's: written before the update answered.
            receipt = await web.get(f"/quotes/{quote.number}", params={"token": token})
            assert 'id="state">paid' in receipt.text and calls(metrics, "GET", "/quotes/{number}") == 0
        finally:
            await web.aclose()
            await opened.__aexit__(None, None, None)


async def test_metrics_shows_the_sdk_and_each_route_to_this_machine_only(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    metrics = Metrics()
    await Client.connect(  # its first call, the system info, is counted by the SDK
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        runtime=metrics.with_sdk(),
    )
    async with open_app(settings, pool=pool, client=env.client) as app:
        web = create_app(
            lambda: app.quotes,
            LinkSigner(settings.require_link_secrets()),
            lambda: gateway,
            metrics_of=metrics,
            metrics_token="scrape-me",
        )
        local = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE)
        away = httpx.AsyncClient(transport=httpx.ASGITransport(app=web, client=("203.0.113.9", 4000)), base_url=BASE)
        async with local, away:
            await local.get("/healthz")
            text = (await local.get("/metrics")).text
            assert 'renewals_http_request_seconds_count{method="GET",route="/healthz",status="200"} 1.0' in text
            assert "temporal_request" in text  # the SDK's own (Temporal's runtime telemetry)
            assert (await away.get("/metrics")).status_code == 403
            # A proxy on this machine makes every visitor local: a forwarded request is not.
            assert (await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 403
            await local.request("BREW", "/healthz")  # a made-up method adds no series of its own
            assert 'method="BREW"' not in (await local.get("/metrics")).text
            scraped = await away.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert scraped.status_code == 200 and "renewals_http_request_seconds" in scraped.text


async def test_r12_an_auto_quote_is_started_and_sent_in_one_call_with_no_update(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    metrics = Metrics()
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        counted = copy.copy(quotes)
        counted.client = Client(**{**env.client.config(), "interceptors": [metrics.interceptor()]})
        today = (await env.get_current_time()).date()
        end = await scalar(pool, "SELECT end_date FROM subscriptions WHERE id = %s", "SUB-1002")
        number = await counted.create_auto("SUB-1002", end, today)
        assert temporal_calls(metrics) == {"start_workflow": 1}
        quote = await until(lambda: sent(quotes, number), f"auto quote {number} sent")
        await settled(env.client, number)
        assert quote.origin.value == "auto"
        history = await env.client.get_workflow_handle(f"quote-{number}").fetch_history()
        kinds = {event.WhichOneof("attributes") for event in history.events}
        assert not any("update" in kind for kind in kinds), kinds

        async def mailed():
            return len(mailbox.messages()) == len(quote.all_recipients)

        await until(mailed, "the auto quote's email")
        # The term's quote ended: asking again (a calendar that forgot it) finds it, and makes no second one.
        await quotes.cancel(number, "sales")
        await quote_result(env.client, number)
        assert await counted.create_auto("SUB-1002", end, today) == number
        assert await scalar(pool, "SELECT count(*) FROM quotes WHERE origin = 'auto'") == 1
