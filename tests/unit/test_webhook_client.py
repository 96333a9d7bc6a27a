"""deliver_webhook's one HTTP client per worker: made once and reused, and a request on a kept-alive
connection the receiver had already closed is sent again once on a new one (httpx's mock transport)."""

from datetime import UTC, datetime

import httpx
import pytest

from activities.webhooks import DeliverWebhookInput, WebhookActivities
from domain.webhooks import WebhookEvent

pytestmark = pytest.mark.asyncio


def delivery(n: int) -> DeliverWebhookInput:
    event = WebhookEvent(id=f"evt_{n}", type="quote.sent", created=datetime(2026, 11, 30, tzinfo=UTC), data={})
    return DeliverWebhookInput(event=event, receiver="r1")


def activities_with(handler) -> WebhookActivities:
    hooks = WebhookActivities({"r1": "http://receiver.example/hooks"}, "whsec_test")
    hooks._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return hooks


async def test_one_client_serves_every_delivery_of_a_worker() -> None:
    hooks = WebhookActivities({"r1": "http://receiver.example/hooks"}, "whsec_test")
    assert hooks.http is hooks.http
    await hooks.aclose()


async def test_a_closed_keep_alive_connection_is_tried_once_more_and_delivers_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["content-type"])
        if len(seen) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(204)

    hooks = activities_with(handler)
    result = await hooks.deliver_webhook(delivery(1))
    assert result.status == 204 and len(seen) == 2
    await hooks.aclose()


async def test_a_receiver_that_keeps_failing_is_left_to_the_activitys_retries() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    hooks = activities_with(handler)
    with pytest.raises(httpx.RemoteProtocolError):
        await hooks.deliver_webhook(delivery(2))
    assert calls == 2  # once more, not a loop
    await hooks.aclose()
