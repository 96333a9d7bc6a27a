"""StackCheckWorkflow: `renewals dev` runs it once at start to show the worker and store answer."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.stack import CountCatalogInput, StackActivities
    from contracts import stack_check as contract
    from contracts.stack_check import StackCheckInput, StackCheckResult


@workflow.defn(name=contract.WORKFLOW)
class StackCheckWorkflow:
    @workflow.run
    async def run(self, input: StackCheckInput) -> StackCheckResult:
        result = await workflow.execute_activity_method(
            StackActivities.count_catalog,
            CountCatalogInput(),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return StackCheckResult(counts=result.counts)
