"""`renewals ops audit`'s calendar check (R01): visibility lists the running calendars, but it lags; a calendar
missing from it is asked itself, so one that continued as new a moment ago is not reported, and one that
really stopped is reported with how it stopped. The client is a stand-in: this is a unit test."""

from types import SimpleNamespace

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts import subscription as calendar
from services.audit import _calendars

pytestmark = pytest.mark.asyncio


class Client:
    """Visibility lists `listed`; describe answers from `latest` (a status, or None: not found)."""

    def __init__(self, listed: list[str], latest: dict[str, WorkflowExecutionStatus | None]) -> None:
        self.listed, self.latest, self.described = listed, latest, []

    async def list_workflows(self, query: str):
        assert "ExecutionStatus" in query and calendar.WORKFLOW in query
        for sub_id in self.listed:
            yield SimpleNamespace(id=calendar.workflow_id(sub_id))

    def get_workflow_handle(self, workflow_id: str):
        async def describe():
            self.described.append(workflow_id)
            status = self.latest[workflow_id]
            if status is None:
                raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
            return SimpleNamespace(status=status)

        return SimpleNamespace(describe=describe)


async def test_r01_audit_does_not_report_a_calendar_visibility_has_not_listed_yet() -> None:
    client = Client(["SUB-1"], {calendar.workflow_id("SUB-2"): WorkflowExecutionStatus.RUNNING})
    assert await _calendars(client, ["SUB-1", "SUB-2"]) == []  # type: ignore[arg-type]
    assert client.described == [calendar.workflow_id("SUB-2")]  # the listed one is not asked again


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (WorkflowExecutionStatus.COMPLETED, "completed"),
        (WorkflowExecutionStatus.FAILED, "failed"),
        (WorkflowExecutionStatus.TERMINATED, "was terminated"),
        (None, "was not found"),
    ],
)
async def test_r01_audit_reports_an_open_subscription_whose_calendar_stopped(status, said) -> None:
    client = Client([], {calendar.workflow_id("SUB-3"): status})
    [violation] = await _calendars(client, ["SUB-3"])  # type: ignore[arg-type]
    assert (violation.kind, violation.subject) == ("calendar", "SUB-3")
    assert violation.detail == f"SUB-3 is open but its calendar {said}"


async def test_r01_audit_lets_an_error_other_than_not_found_through() -> None:
    class Down(Client):
        def get_workflow_handle(self, workflow_id: str):
            async def describe():
                raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

            return SimpleNamespace(describe=describe)

    with pytest.raises(RPCError):
        await _calendars(Down([], {}), ["SUB-4"])  # type: ignore[arg-type]
