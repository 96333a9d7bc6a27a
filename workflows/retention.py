"""RetentionWorkflow: what the retention schedule starts (contracts/retention.py); waits out a store outage."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from contracts import retention as contract
    from contracts.retention import RetentionInput, RetentionResult
    from workflows.steps import OUTAGE


@workflow.defn(name=contract.WORKFLOW)
class RetentionWorkflow:
    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionResult:
        return await workflow.execute_activity_method(
            RetentionActivities.purge_accounts, input, start_to_close_timeout=timedelta(seconds=60), retry_policy=OUTAGE
        )
