"""R16: releasing a quote's reserved terms (activities/subscriptions.py `release_terms`) counts a term as
released only when its calendar let go of it, or has ended (a lapsed calendar holds nothing). On 518b699 a
calendar that could not answer (its task failing, or paused: FAILED_PRECONDITION) counted as released, and
the reservation outlived its quote."""

from datetime import date

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.subscriptions import SubscriptionActivities, TermsInput
from domain.quote_effects import TermRef

TERMS = TermsInput(quote_number="Q-000042", terms=[TermRef(subscription_id="SUB-1", term_end=date(2027, 3, 31))])


class Calendars:
    """A Temporal client whose calendar answers each update with `answer` (an error is raised)."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.updates: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> "Calendars":
        return self

    async def execute_update(self, update: str, arg: object, result_type: type, id: str | None = None) -> object:
        self.updates.append(update)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class Mirror:
    """A pool whose store mirror is not reached in these tests (the calendar is)."""

    def connection(self):  # type: ignore[no-untyped-def]
        raise AssertionError("nothing is mirrored for a calendar that did not answer")


def release(client: Calendars) -> object:
    activities = SubscriptionActivities(client, Mirror())  # type: ignore[arg-type]
    return ActivityEnvironment().run(activities.release_terms, TERMS)


async def test_r16_a_calendar_that_cannot_answer_has_not_released_and_the_step_is_retried() -> None:
    paused = RPCError("workflow task is failing", RPCStatusCode.FAILED_PRECONDITION, b"")
    client = Calendars(paused)
    with pytest.raises(RPCError):
        await release(client)
    assert client.updates == ["release"]


async def test_r16_a_calendar_that_has_ended_holds_nothing_to_release() -> None:
    ended = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    assert (await release(Calendars(ended))).released == 1  # type: ignore[attr-defined]
