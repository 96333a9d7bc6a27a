"""Webhooks from inside a workflow: each step's events (usually one) go to each receiver by one
`deliver_webhook` activity, retried with back-off for up to three days with the same event id. Deliveries run in the
background like the emails: the quote or calendar goes on with its steps while a receiver is down,
and a delivery that retries shows in `renewals ops stuck`."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import DeliverWebhookInput, WebhookActivities, WebhookReceiversInput
    from domain.webhooks import EventType, WebhookEvent

# Back-off from seconds to an hour, for up to three days.
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(hours=1))
DELIVERY_DEADLINE = timedelta(days=3)
DELIVERY_ATTEMPT = timedelta(seconds=30)


def delivery_activity_id(events: list[WebhookEvent], receiver: str) -> str:
    """What `renewals ops stuck` and the Web UI show for a delivery that retries."""
    return f"webhook {'+'.join(e.type for e in events)} {events[0].id} to {receiver}"


class Announcer:
    """The events of one workflow run. The receivers are the quote's (fixed when it began) or, for a
    calendar that lives for years, asked of the worker once per run when the first event happens.
    `created` strictly increases, so a receiver orders one workflow's events by it."""

    def __init__(self, receivers: list[str] | None = None) -> None:
        self.fixed = receivers
        self.asked: asyncio.Task[list[str]] | None = None
        self.last: datetime | None = None
        self.deliveries: list[tuple[WebhookEvent, asyncio.Task]] = []

    def announce(self, type: EventType, data: dict[str, Any]) -> asyncio.Task | None:
        """The event is fixed now (id, time, data); its deliveries run in the background."""
        return self.announce_all([(type, data)])

    def announce_all(self, steps: list[tuple[EventType, dict[str, Any]]]) -> asyncio.Task | None:
        """The events of one step (a quote accepted and paid at once), fixed now in order; one delivery per
        receiver carries them all, in that order."""
        if not steps or (self.fixed is not None and not self.fixed):
            return None
        events = []
        for type, data in steps:
            now = workflow.now()
            created = now if self.last is None or now > self.last else self.last + timedelta(milliseconds=1)
            self.last = created
            events.append(WebhookEvent(id=f"evt_{workflow.uuid4().hex}", type=type, created=created, data=data))
        return self.deliver(*events)

    def deliver(self, *events: WebhookEvent) -> asyncio.Task:
        """Deliver events fixed earlier (again: a run that ended before its deliveries were done)."""
        delivery = asyncio.create_task(self._deliver(list(events)))
        self.deliveries = [(e, t) for e, t in self.deliveries if not t.done()] + [(e, delivery) for e in events]
        return delivery

    def undelivered(self) -> list[WebhookEvent]:
        """The events whose deliveries are still going on: carried to the next run, same ids."""
        return [event for event, task in self.deliveries if not task.done()]

    async def _deliver(self, events: list[WebhookEvent]) -> None:
        first, *then = events
        deliveries = [
            workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                DeliverWebhookInput(event=first, receiver=receiver, then=then),
                activity_id=delivery_activity_id(events, receiver),
                start_to_close_timeout=DELIVERY_ATTEMPT,
                schedule_to_close_timeout=DELIVERY_DEADLINE,
                retry_policy=DELIVERY_RETRY,
            )
            for receiver in await self._receivers()
        ]
        for failed in await asyncio.gather(*deliveries, return_exceptions=True):
            if isinstance(failed, BaseException):
                workflow.logger.warning("webhook %s %s not delivered: %s", first.type, first.id, failed)

    async def _receivers(self) -> list[str]:
        if self.fixed is not None:
            return self.fixed
        if self.asked is None:
            self.asked = asyncio.create_task(self._ask())
        return await self.asked

    async def _ask(self) -> list[str]:
        """The worker's configuration, read in memory: a local activity (one event, no task to dispatch)."""
        found = await workflow.execute_local_activity_method(
            WebhookActivities.webhook_receivers, WebhookReceiversInput(), start_to_close_timeout=timedelta(seconds=10)
        )
        return found.receivers
