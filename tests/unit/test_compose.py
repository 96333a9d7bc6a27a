"""The production stack as written: every service docs/operations.md names, every variable documented,
one app image for worker, web app and migrations, and an order that `docker compose up` can keep."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
SERVICES = COMPOSE["services"]


def section(title: str) -> str:
    start = OPERATIONS.index(f"## {title}")
    end = OPERATIONS.find("\n## ", start + 1)
    return OPERATIONS[start : end if end > 0 else None]


def test_every_service_the_docs_name_is_in_the_compose_file() -> None:
    named = set(re.findall(r"^\| `([a-z-]+)` \|", section("Production"), re.M))
    assert named == set(SERVICES), named ^ set(SERVICES)


def test_every_variable_the_compose_file_uses_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(re.findall(r"`([A-Z_]+)`", section("Configuration")))
    assert used - documented == set()


def test_app_environment_uses_the_same_names_as_the_code() -> None:
    from runtime.settings import Settings

    known = {name.upper() for name in Settings.model_fields}
    for name in ("worker", "web", "migrate"):
        assert set(SERVICES[name]["environment"]) <= known, name


def test_worker_web_and_migrate_share_the_app_image() -> None:
    images = {SERVICES[name]["image"] for name in ("worker", "web", "migrate")}
    assert images == {"${APP_IMAGE:-renewal-quotes:latest}"}
    assert all(SERVICES[name]["build"] == "." for name in ("worker", "web", "migrate"))
    assert SERVICES["worker"]["command"] == ["worker"] and SERVICES["web"]["command"] == ["web"]


def test_stack_comes_up_in_order() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, (name, dependency)
            assert rule["condition"] in ("service_healthy", "service_completed_successfully"), (name, dependency)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], dependency
    assert SERVICES["temporal"]["depends_on"] == {"temporal-schema": {"condition": "service_completed_successfully"}}
    assert "auto-setup" not in (ROOT / "docker-compose.yml").read_text()
    for long_running in ("postgresql", "temporal", "mailpit", "worker", "web"):
        assert "healthcheck" in SERVICES[long_running], long_running


def test_workers_scale_and_stop_gracefully() -> None:
    worker = SERVICES["worker"]
    assert worker["deploy"]["replicas"] == "${WORKER_REPLICAS:-2}"
    assert "WORKER_SHUTDOWN_GRACE" in worker["environment"] and "stop_grace_period" in worker


def test_dockerfile_is_small_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-slim" in dockerfile and re.search(r"^USER (?!root)", dockerfile, re.M)
    assert 'ENTRYPOINT ["renewals"]' in dockerfile
    assert "[embedded" not in dockerfile


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed here",
)
def test_docker_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker", "compose", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BUYER_LINK_SECRET": "x"},
    )
    assert result.returncode == 0, result.stderr
