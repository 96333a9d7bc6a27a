"""deliver_webhook: one event to one receiver, signed; retried with back-off for up to three days by the
workflow that raised the event, with the same event id each time."""

import time

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.webhooks import SIGNATURE_HEADER, WebhookEvent, signature


class DeliverWebhookInput(BaseModel):
    event: WebhookEvent
    receiver: str


class DeliverWebhookResult(BaseModel):
    status: int


class WebhookReceiversInput(BaseModel):
    pass


class WebhookReceiversResult(BaseModel):
    receivers: list[str]


class WebhookActivities:
    def __init__(self, receivers: dict[str, str], secret: str, timeout: float = 10) -> None:
        """`receivers` maps each receiver's id (`domain.webhooks.receiver_id`) to its URL."""
        self.receivers = receivers
        self.secret = secret
        self.timeout = timeout

    @activity.defn
    async def webhook_receivers(self, input: WebhookReceiversInput) -> WebhookReceiversResult:
        """The receivers configured now (WEBHOOK_URLS), by id."""
        return WebhookReceiversResult(receivers=sorted(self.receivers))

    @activity.defn
    async def deliver_webhook(self, input: DeliverWebhookInput) -> DeliverWebhookResult:
        url = self.receivers.get(input.receiver)
        if url is None:
            raise ApplicationError(
                f"webhook receiver {input.receiver} is no longer configured", type="InvalidData", non_retryable=True
            )
        body = input.event.model_dump_json().encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.secret, int(time.time()), body)}
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            answer = await http.post(url, content=body, headers=headers)
        if answer.status_code >= 300:
            raise ApplicationError(f"{input.event.type} {input.event.id}: the receiver answered {answer.status_code}")
        activity.logger.info(
            "webhook=%s id=%s receiver=%s status=%s",
            input.event.type,
            input.event.id,
            input.receiver,
            answer.status_code,
        )
        return DeliverWebhookResult(status=answer.status_code)
