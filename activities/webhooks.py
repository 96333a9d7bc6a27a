"""deliver_webhook: one step's events (usually one) to one receiver, each signed; retried with back-off for up to three days by the
workflow that raised the event, with the same event id each time."""

import time

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.failures import Failure, failure
from domain.webhooks import SIGNATURE_HEADER, WebhookEvent, signature


class DeliverWebhookInput(BaseModel):
    """`then`: the events of the same step that follow `event` (a quote accepted and paid at once), delivered
    in order by the same activity: one activity per step, not one per event."""

    event: WebhookEvent
    receiver: str
    then: list[WebhookEvent] = []


class DeliverWebhookResult(BaseModel):
    status: int


class WebhookReceiversInput(BaseModel):
    pass


class WebhookReceiversResult(BaseModel):
    receivers: list[str]


# The errors of a request on a kept-alive connection the receiver had already closed: tried once more
# on a new connection before the activity's own retries take over.
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class WebhookActivities:
    def __init__(self, receivers: dict[str, str], secret: str, timeout: float = 10) -> None:
        """`receivers` maps each receiver's id (`domain.webhooks.receiver_id`) to its URL. One HTTP client
        (one TLS context, kept-alive connections) serves every delivery of this worker: building a client
        per delivery cost most of a burst's CPU."""
        self.receivers = receivers
        self.secret = secret
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """Made on first use, inside the worker's event loop that runs every async activity."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout, limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @activity.defn
    async def webhook_receivers(self, input: WebhookReceiversInput) -> WebhookReceiversResult:
        """The receivers configured now (WEBHOOK_URLS), by id."""
        return WebhookReceiversResult(receivers=sorted(self.receivers))

    @activity.defn
    async def deliver_webhook(self, input: DeliverWebhookInput) -> DeliverWebhookResult:
        """Each event in order; a retry sends again those already delivered, with the same ids (receivers
        dedupe by id), so a later event never arrives before an earlier one."""
        url = self.receivers.get(input.receiver)
        if url is None:
            raise failure(Failure.INVALID_DATA, f"webhook receiver {input.receiver} is no longer configured")
        status = 0
        for event in (input.event, *input.then):
            status = await self._post(url, event, input.receiver)
        return DeliverWebhookResult(status=status)

    async def _post(self, url: str, event: WebhookEvent, receiver: str) -> int:
        body = event.model_dump_json().encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.secret, int(time.time()), body)}
        try:
            answer = await self.http.post(url, content=body, headers=headers)
        except STALE_CONNECTION:
            answer = await self.http.post(url, content=body, headers=headers)
        if answer.status_code >= 300:
            raise ApplicationError(f"{event.type} {event.id}: the receiver answered {answer.status_code}")
        activity.logger.info(
            "webhook=%s id=%s receiver=%s status=%s", event.type, event.id, receiver, answer.status_code
        )
        return answer.status_code
