"""Fixtures of the end-to-end tests that run the real `renewals` command."""

import pytest
from temporalio.testing import WorkflowEnvironment


@pytest.fixture
def env_vars(cli_env, settings, dev_env: WorkflowEnvironment) -> dict[str, str]:
    """The real command's environment for this test's store, Temporal dev server, task queue and SMTP."""
    return cli_env | {
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
    }
