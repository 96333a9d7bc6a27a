"""A workflow runs on both Temporal servers that ship as PyPI packages; nothing is downloaded."""

import uuid

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.stack import CountCatalogInput, CountCatalogResult
from contracts.search_attributes import ALL
from contracts.stack_check import StackCheckInput
from runtime.settings import Settings
from runtime.temporal import build_worker
from workflows.stack_check import StackCheckWorkflow


@activity.defn(name="count_catalog")
async def count_catalog_mocked(input: CountCatalogInput) -> CountCatalogResult:
    return CountCatalogResult(counts={"customers": 7})


async def test_stack_check_on_time_skipping_server(env: WorkflowEnvironment) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=task_queue, workflows=[StackCheckWorkflow], activities=[count_catalog_mocked]
    ):
        result = await env.client.execute_workflow(
            StackCheckWorkflow.run, StackCheckInput(), id=f"check-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result.counts == {"customers": 7}


async def test_stack_check_on_dev_server_with_real_store(
    dev_env: WorkflowEnvironment, pool, settings: Settings
) -> None:
    async with build_worker(dev_env.client, pool, settings):
        result = await dev_env.client.execute_workflow(
            StackCheckWorkflow.run,
            StackCheckInput(),
            id=f"check-{uuid.uuid4()}",
            task_queue=settings.temporal_task_queue,
        )
    assert result.counts == {
        "customers": 0,
        "subscriptions": 0,
        "prices": 0,
        "promotions": 0,
        "partners": 0,
        "tax_rates": 0,
    }


async def test_dev_server_has_the_six_search_attributes(dev_env: WorkflowEnvironment) -> None:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    response = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=dev_env.client.namespace)
    )
    assert {key.name for key in ALL} <= set(response.custom_attributes)
