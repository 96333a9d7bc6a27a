"""The unit tests are pure and fast; the few that need PostgreSQL (a `database_url` or `pool`) are left out
of a mutation run (`make mutate`, docs/testing.md), which forks one test session per mutant and would start
a database server in each. mutmut names the mutant under test in MUTANT_UNDER_TEST."""

import os

import pytest

SERVER_FIXTURES = frozenset({"postgres_server_url", "database_url", "pool"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    needs_server = [item for item in items if SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if needs_server:
        config.hook.pytest_deselected(items=needs_server)
        items[:] = [item for item in items if item not in needs_server]
