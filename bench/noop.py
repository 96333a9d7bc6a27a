"""A no-op workflow of the quote lifecycle's shape: start, a `send` update and an `accept_pay` update, five
no-op activities. What the real lifecycle is measured against: the same server round trips, no work."""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow


class NoopInput(BaseModel):
    number: str


class NoopStep(BaseModel):
    step: str


@activity.defn
async def noop(input: NoopStep) -> NoopStep:
    return input


@workflow.defn
class NoopLifecycleWorkflow:
    @workflow.init
    def __init__(self, input: NoopInput) -> None:
        self.state = "draft"

    @workflow.run
    async def run(self, input: NoopInput) -> str:
        await self._step("save")
        await workflow.wait_condition(lambda: self.state == "paid")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    @workflow.update
    async def send(self, input: NoopStep) -> str:
        await self._step("email")
        self.state = "sent"
        return self.state

    @workflow.update
    async def accept_pay(self, input: NoopStep) -> str:
        for step in ("reserve", "charge", "renew"):
            await self._step(step)
        self.state = "paid"
        return self.state

    async def _step(self, name: str) -> None:
        await workflow.execute_activity(noop, NoopStep(step=name), start_to_close_timeout=timedelta(seconds=10))
