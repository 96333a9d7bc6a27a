"""Webhooks (docs/api.md, Webhooks) on the time-skipping server with the real worker and a real HTTP receiver:
every outcome delivered once, signed, with an id fixed per event, in order of `created`; a receiver that
is down delays no quote and, once up, gets every event once with the same ids."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from domain.webhooks import SIGNATURE_HEADER, WebhookEvent, signature
from payments.gateway import Card
from runtime.settings import Settings
from tests.helpers import (
    free_port,
    quote_result,
    quote_stack,
    request,
    skip,
    start_calendars,
    subscriptions,
    webhook_events,
)
from workers.serving import serve
from workers.webhook_sink import PATH, WebhookSink

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECRET = "whsec_test"
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")


class Receiver:
    """The dev stack's receiver on a free port; while `down`, it answers 503 and notes what it refused."""

    def __init__(self, folder: Path) -> None:
        self.sink = WebhookSink(folder, SECRET)
        self.inner = self.sink.app()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        self.down = False
        self.refused: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.down:
            self.refused.append(json.loads(await Request(scope, receive).body())["id"])
            await PlainTextResponse("down for maintenance", status_code=503)(scope, receive, send)
            return
        await self.inner(scope, receive, send)

    def events(self, subject: str | None = None) -> list[WebhookEvent]:
        return webhook_events(self.sink.folder, subject)

    async def wait_for(self, count: int, subject: str | None = None, seconds: float = 15) -> list[WebhookEvent]:
        for _ in range(int(seconds / 0.05)):
            if len(self.events(subject)) >= count:
                break
            await asyncio.sleep(0.05)
        return self.events(subject)


@asynccontextmanager
async def receiving(tmp_path: Path, settings: Settings) -> AsyncIterator[tuple[Receiver, Settings]]:
    receiver = Receiver(tmp_path / "webhooks")
    stop = await serve(receiver, "127.0.0.1", receiver.port)
    try:
        yield receiver, settings.model_copy(update={"webhook_urls": receiver.url, "webhook_secret": SecretStr(SECRET)})
    finally:
        await stop()


def types(events: list[WebhookEvent]) -> list[str]:
    return [e.type for e in events]


async def test_webhooks_each_quote_step_once_signed_in_created_order(
    env: WorkflowEnvironment, pool, settings, gateway, tmp_path
) -> None:
    async with receiving(tmp_path, settings) as (receiver, hooked):
        async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
            quote = await quotes.create(request("SUB-1001"), send=True)
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
            paid = await quote_result(env.client, quote.number)
            events = await receiver.wait_for(3, quote.number)
            renewed = await receiver.wait_for(1, "SUB-1001")
            shown = await quotes.show(quote.number)
    assert paid.state is QuoteState.PAID
    assert types(events) == ["quote.sent", "quote.accepted", "quote.paid"]
    assert [e.data["state"] for e in events] == ["sent", "accepted", "paid"]
    assert events[0].created < events[1].created < events[2].created
    assert len({e.id for e in events}) == 3 and all(e.id.startswith("evt_") for e in events)
    assert events[2].data == shown.json_view()
    assert types(renewed) == ["subscription.renewed"]
    assert renewed[0].data["end_date"] == str(paid.renewed["SUB-1001"])
    # Delivered once each: nothing arrived twice, and every arrival passed the signature check.
    assert sorted(e.id for e in receiver.sink.arrivals) == sorted(e.id for e in receiver.events())


async def test_webhooks_receiver_refuses_a_bad_signature_and_keeps_nothing(tmp_path) -> None:
    sink = WebhookSink(tmp_path / "webhooks", SECRET)
    body = json.dumps({"id": "evt_x", "type": "quote.paid", "created": "2026-11-26T10:00:00Z", "data": {}}).encode()
    now = int(time.time())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sink.app()), base_url="http://sink") as http:
        forged = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature("whsec_guess", now, body)})
        stale = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature(SECRET, now - 3600, body)})
        unsigned = await http.post(PATH, content=body)
        good = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature(SECRET, now, body)})
        again = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature(SECRET, now, body)})
    assert [r.status_code for r in (forged, stale, unsigned)] == [401, 401, 401]
    assert (good.status_code, good.json()["repeated"], again.json()["repeated"]) == (200, False, True)
    assert [p.name for p in (tmp_path / "webhooks").iterdir()] == ["evt_x.json"]


async def test_webhooks_cancelled_expired_auto_renew_changed_and_lapsed(
    env: WorkflowEnvironment, pool, settings, tmp_path
) -> None:
    async with receiving(tmp_path, settings) as (receiver, hooked):
        async with quote_stack(env, pool, hooked) as quotes:
            cancelled = await quotes.create(request("SUB-1001"), send=True)
            await quotes.cancel(cancelled.number, by="partner")
            await start_calendars(env, pool, hooked, "SUB-1003", "SUB-1005")
            await subscriptions(env, pool, hooked).set_auto_renew("SUB-1003", False)
            lapsed = await env.client.get_workflow_handle("subscription-SUB-1005").result()
            expiring = await quotes.create(request("SUB-1002"), send=True)
            await receiver.wait_for(1, expiring.number)
            await skip(env, expiring.number, timedelta(days=31))
            await quote_result(env.client, expiring.number)
            ended = [await receiver.wait_for(n, q.number) for n, q in ((2, cancelled), (4, expiring))]
            switched = await receiver.wait_for(1, "SUB-1003")
            gone = await receiver.wait_for(1, "SUB-1005")
    assert [types(e) for e in ended] == [
        ["quote.sent", "quote.cancelled"],
        ["quote.sent", "quote.reminded", "quote.reminded", "quote.expired"],  # R22: 7 days and 1 day before
    ]
    assert ended[0][1].data["cancelled_by"] == "partner"
    assert [e.data["reminded"] for e in ended[1][1:3]] == [[7], [7, 1]]
    assert types(switched) == ["subscription.auto_renew_changed"] and switched[0].data["auto_renew"] is False
    assert types(gone) == ["subscription.lapsed"] and gone[0].data["id"] == lapsed["subscription_id"]


async def test_webhooks_receiver_down_delays_no_quote_then_gets_every_event_once_with_the_same_ids(
    env: WorkflowEnvironment, pool, settings, gateway, tmp_path
) -> None:
    async with receiving(tmp_path, settings) as (receiver, hooked):
        receiver.down = True
        async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
            quote = await quotes.create(request("SUB-1001"), send=True)
            paid = await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
            # quote.sent, quote.accepted (quote.paid follows it in the same delivery: tried once it lands) and
            # subscription.renewed are refused while the receiver is down.
            for _ in range(200):
                if len(set(receiver.refused)) >= 3:
                    break
                await asyncio.sleep(0.05)
            refused = set(receiver.refused)
            assert receiver.events() == [] and len(refused) == 3
            stuck = await quotes.show(quote.number)
            receiver.down = False
            await env.sleep(timedelta(minutes=5))
            events = await receiver.wait_for(4)
            ended = await quote_result(env.client, quote.number)
    assert (paid.state, stuck.state, ended.state) == (QuoteState.PAID,) * 3
    assert ended.renewed != {}
    assert types([e for e in events if e.type.startswith("quote.")]) == ["quote.sent", "quote.accepted", "quote.paid"]
    assert types(receiver.events("SUB-1001")) == ["subscription.renewed"]
    assert refused < {e.id for e in events}
    assert len(receiver.sink.arrivals) == 4
