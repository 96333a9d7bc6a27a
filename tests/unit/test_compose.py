"""The production stack as written: every service docs/operations.md names, every variable documented in
docs/configuration.md, one app image for worker, web app and migrations, and an order that `docker compose up`
can keep; each service gets every setting its command reads, and compose stops at once without the secrets and
passwords. Published: the buyer app and the read-only Temporal UI, on 127.0.0.1 only; Mailpit only in the dev profile."""

import ast
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
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
    documented = set(re.findall(r"`([A-Z_]+)`", (ROOT / "docs" / "configuration.md").read_text()))
    assert used - documented == set()


def test_app_environment_uses_the_same_names_as_the_code() -> None:
    from runtime.settings import Settings

    known = {name.upper() for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}  # uvicorn's own
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


# What compose requires, each a value it takes (the app itself refuses weak ones: test_security_deploy.py).
REQUIRED = {
    "BUYER_LINK_SECRETS": "links",
    "WEBHOOK_SECRET": "hooks",
    "POSTGRES_PASSWORD": "superuser-password",
    "RENEWALS_DB_PASSWORD": "app-password",
    "VENDOR_IBAN": "DE89370400440532013000",
    "VENDOR_BIC": "COBADEFFXXX",
}


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin), else Debian's `docker-compose` 1.29 (.ci/run installs it); neither needs a
    daemon for `config`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def compose_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`<compose> [args] config ...` on docker-compose.yml, with `env` only (nothing of this shell's). 1.29 knows
    no top-level `name:`: it reads the file without it, from stdin, in the project's directory."""
    command = compose_command()
    assert command is not None
    text = (ROOT / "docker-compose.yml").read_text()
    if command == ["docker-compose"]:
        text = re.sub(r"^name: .*\n", "", text, flags=re.M)
        command += ["--project-directory", str(ROOT), "--project-name", "renewal-quotes"]
    return subprocess.run(
        [*command, "-f", "-", *args],
        cwd=ROOT,
        input=text,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"} | env,
    )


needs_compose = pytest.mark.skipif(compose_command() is None, reason="neither docker compose nor docker-compose here")


@needs_compose
def test_docker_compose_config_is_valid() -> None:
    # docker-compose 1.29 reads no nested ${A:-${B:?...}}: BUYER_LINK_SECRETS' refusal is checked with `interpolate`.
    checked = [name for name in REQUIRED if compose_command() != ["docker-compose"] or name != "BUYER_LINK_SECRETS"]
    envs = [REQUIRED] + [{k: v for k, v in REQUIRED.items() if k != name} for name in checked]
    with ThreadPoolExecutor(len(envs)) as pool:  # 1.29 takes seconds to start; side by side
        result, *unset = pool.map(lambda env: compose_config(env, "config", "-q"), envs)
    assert result.returncode == 0, result.stderr
    for name, refused in zip(checked, unset, strict=True):
        assert refused.returncode != 0 and f"set {name} to " in refused.stderr, (name, refused)


def published(config: dict) -> dict[str, list[tuple[str, int]]]:
    """Each service's published ports as (host address, port in the container), from `config`'s output: the
    plugin writes them long (`host_ip`, `target`), docker-compose 1.29 as `[ip:]published:target[/proto]`."""
    ports: dict[str, list[tuple[str, int]]] = {}
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                ports.setdefault(name, []).append((port.get("host_ip", ""), int(port["target"])))
            else:
                *host, _published, target = str(port).split("/")[0].split(":")
                ports.setdefault(name, []).append((":".join(host), int(target)))
    return ports


@needs_compose
def test_docker_compose_config_publishes_nothing_beyond_localhost() -> None:
    """`docker compose config`, the dev profile included, as compose itself reads the file: every published port
    on 127.0.0.1, and only the buyer app, the Temporal UI and Mailpit's inbox; PUBLISH_ADDRESS moves the buyer
    app's alone."""
    result = compose_config(REQUIRED, "--profile", "dev", "config")
    assert result.returncode == 0, result.stderr
    ports = published(yaml.safe_load(result.stdout))
    assert ports == {
        "web": [("127.0.0.1", 8000)],
        "temporal-ui": [("127.0.0.1", 8080)],
        "mailpit": [("127.0.0.1", 8025)],
    }
    moved = compose_config(REQUIRED | {"PUBLISH_ADDRESS": "10.1.2.3"}, "--profile", "dev", "config")
    ports = published(yaml.safe_load(moved.stdout))
    assert ports["web"] == [("10.1.2.3", 8000)] and ports["temporal-ui"] == [("127.0.0.1", 8080)]


# --- Every service gets every variable its command reads -------------------------------------------------

APP_PACKAGES = {"domain", "contracts", "workflows", "activities", "payments", "store", "services", "runtime"}
APP_PACKAGES |= {"workers", "starters", "web"}
# Each service's `renewals` command: its function in starters/cli.py and the modules it runs.
COMMANDS = {
    "worker": ("worker", ["workers.main"]),
    "web": ("web", ["web.app"]),
    "migrate": ("migrate", ["starters.base", "store.migrate"]),
}
# Read by a service's code, but its default is right in a container of this stack (or it is optional).
DEFAULT_SERVES = {
    "temporal_namespace": "default namespace; compose sets it anyway",
    "temporal_task_queue": "the one task queue; compose sets it anyway",
    "temporal_api_key": "Temporal Cloud only",
    "temporal_tls": "the stack's Temporal is on its private network",
    "temporal_tls_cert": "mTLS only",
    "temporal_tls_key": "mTLS only",
    "mail_from": "a sender of the example domain; compose sets it anyway",
    "payment_wait_seconds": "20 s",
    "quote_reminder_days": "7 and 1 days before expiry",
    "worker_queues": "both task queues; production may split them with `renewals worker --queues`",
    "log_level": "INFO",
    "renewals_log_format": "text: readable lines; json for a log collector",
    "worker_shutdown_grace": "30 s; the worker service sets it with its stop grace period",
    "worker_max_concurrent_activities": "100",
    "worker_max_concurrent_workflow_tasks": "100",
    "worker_max_cached_workflows": "1000",
    "metrics_port": "off; the worker service sets it for its health check (test below)",
    "api_max_body_bytes": "1 MiB",
    "form_max_body_bytes": "64 KiB",
    "api_rate_limit": "600 a minute for each API key",
    "api_rate_burst": "100 at once for each API key",
    "audit_window_days": "35 days",
    "renewals_metrics_token": "none: /metrics answers the container itself; a scraper elsewhere needs one",
    "worker_sandbox": "on: workflows run in the SDK's sandbox",
}
LINK_SECRETS = {"buyer_link_secret", "buyer_link_secrets"}  # either one (BUYER_LINK_SECRETS wins)


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in APP_PACKAGES and module_file(name)}


def reached(roots: list[str]) -> list[ast.Module]:
    """The application's modules a command runs, through their imports (not the command line's others)."""
    seen: dict[str, ast.Module] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or (name in ("starters.cli", "starters.quote_cli") and name not in roots):
            continue
        file = module_file(name)
        assert file is not None, name
        seen[name] = ast.parse(file.read_text())
        todo += imports_of(seen[name])
    return list(seen.values())


def settings_reads() -> tuple[set[str], dict[str, set[str]]]:
    """Settings' fields, and what each of its methods reads of them."""
    from runtime.settings import Settings

    fields = set(Settings.model_fields)
    tree = ast.parse((ROOT / "runtime" / "settings.py").read_text())
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"]
    methods = {
        node.name: {
            n.attr
            for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
        }
        & fields
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    }
    return fields, methods


def fields_read(trees: list[ast.AST]) -> set[str]:
    """Every `settings.<field>` (also `app.settings.<field>`, `Settings.load().<field>`) and every Settings
    method called on it, by the fields the method reads."""
    fields, methods = settings_reads()

    def is_settings(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id == "settings"
        if isinstance(node, ast.Attribute):
            return node.attr == "settings"
        return isinstance(node, ast.Call) and ast.unparse(node.func) == "Settings.load"

    read: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and is_settings(node.value):
                read |= {node.attr} & fields or methods.get(node.attr, set())
    return read


def command_trees(service: str) -> list[ast.AST]:
    function, modules = COMMANDS[service]
    cli = ast.parse((ROOT / "starters" / "cli.py").read_text())
    (command,) = [n for n in cli.body if isinstance(n, ast.FunctionDef) and n.name == function]
    local = [m for n in ast.walk(command) if isinstance(n, ast.ImportFrom) and n.module for m in [n.module]]
    return [command, *reached(modules + [m for m in local if m.split(".")[0] in APP_PACKAGES])]


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_every_service_gets_every_variable_its_command_reads(service: str) -> None:
    from runtime.settings import Settings

    assert SERVICES[service]["command"][0] == service
    read = fields_read(command_trees(service))
    assert {"temporal_address", "database_url"} <= read  # the scan sees through the composition root
    assert set(DEFAULT_SERVES) <= set(Settings.model_fields), set(DEFAULT_SERVES) - set(Settings.model_fields)
    given = {name.lower() for name in SERVICES[service]["environment"]}
    if given & LINK_SECRETS:
        given |= LINK_SECRETS
    missing = read - set(DEFAULT_SERVES) - given
    assert not missing, f"{service} reads {sorted(missing)} but compose does not set it (or say why in DEFAULT_SERVES)"


def test_the_web_service_listens_where_its_port_is_published_and_the_worker_serves_its_metrics() -> None:
    web, worker = SERVICES["web"]["environment"], SERVICES["worker"]["environment"]
    assert web["WEB_HOST"] == "0.0.0.0" and SERVICES["web"]["ports"] == [
        f"${{PUBLISH_ADDRESS:-127.0.0.1}}:${{WEB_PORT:-8000}}:{web['WEB_PORT']}"
    ]
    assert f"localhost:{web['WEB_PORT']}/healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert f"localhost:{worker['METRICS_PORT']}/metrics" in " ".join(SERVICES["worker"]["healthcheck"]["test"])


# --- The secrets are required: compose stops at once without them ---------------------------------------


class Unset(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation (docs.docker.com/reference/compose-file/interpolation): ${VAR}, ${VAR:-default},
    ${VAR:?error}, nested; enough to read this file as `docker compose` does."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        depth, j = 1, i + 2
        while depth:
            if text.startswith("${", j):
                depth, j = depth + 1, j + 2
                continue
            depth -= text[j] == "}"
            j += 1
        body = text[i + 2 : j - 1]
        name, op, rest = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:-|:\?|)(.*)", body, re.S).groups()
        value = env.get(name, "")
        if not value and op == ":?":
            raise Unset(f"required variable {name} is missing a value: {interpolate(rest, env)}")
        out.append(value or (interpolate(rest, env) if op == ":-" else ""))
        i = j
    return "".join(out)


def app_env(service: str, env: dict[str, str]) -> dict[str, str]:
    return {name: interpolate(str(value), env) for name, value in SERVICES[service]["environment"].items()}


def test_compose_stops_without_the_webhook_and_link_secrets() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    passwords = {"POSTGRES_PASSWORD": "p", "RENEWALS_DB_PASSWORD": "r", "VENDOR_IBAN": "i", "VENDOR_BIC": "b"}
    with pytest.raises(Unset, match="WEBHOOK_SECRET"):
        interpolate(text, passwords | {"BUYER_LINK_SECRETS": "links"})
    with pytest.raises(Unset, match="set BUYER_LINK_SECRETS"):
        interpolate(text, passwords | {"WEBHOOK_SECRET": "hooks"})
    with pytest.raises(Unset):
        interpolate(text, passwords | {"WEBHOOK_SECRET": "", "BUYER_LINK_SECRET": "links"})  # empty is missing too
    for service in COMMANDS:
        given = app_env(service, passwords | {"WEBHOOK_SECRET": "hooks", "BUYER_LINK_SECRETS": "new,old"})
        assert (given["WEBHOOK_SECRET"], given["BUYER_LINK_SECRETS"]) == ("hooks", "new,old"), service
        one = app_env(service, passwords | {"WEBHOOK_SECRET": "hooks", "BUYER_LINK_SECRET": "only"})
        assert one["BUYER_LINK_SECRETS"] == "only" and "BUYER_LINK_SECRET" not in one, service


def test_compose_requires_database_passwords() -> None:
    """No default password left: without POSTGRES_PASSWORD or RENEWALS_DB_PASSWORD (or with one empty) every
    compose command stops, naming it; given, each reaches every service that uses it."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(POSTGRES|RENEWALS_DB)_PASSWORD:-", text) and not re.search(r":-(temporal|renewals)}", text)
    for name in ("POSTGRES_PASSWORD", "RENEWALS_DB_PASSWORD"):
        with pytest.raises(Unset, match=f"required variable {name} is missing a value: set {name} to a long random"):
            interpolate(text, {k: v for k, v in REQUIRED.items() if k != name})
        with pytest.raises(Unset, match=name):
            interpolate(text, REQUIRED | {name: ""})
    interpolate(text, REQUIRED)  # all given: nothing else is required
    superuser = {
        ("postgresql", "POSTGRES_PASSWORD"),
        ("temporal-schema", "SQL_PASSWORD"),
        ("temporal", "POSTGRES_PWD"),
    }
    for service, variable in superuser:
        assert interpolate(str(SERVICES[service]["environment"][variable]), REQUIRED) == "superuser-password"
    assert interpolate(SERVICES["postgresql"]["environment"]["RENEWALS_DB_PASSWORD"], REQUIRED) == "app-password"
    for service in COMMANDS:
        url = app_env(service, REQUIRED)["DATABASE_URL"]
        assert url == "postgresql://renewals:app-password@postgresql:5432/renewals", service


def test_web_trusts_forwarded_headers_from_the_proxys_network_only() -> None:
    secrets = REQUIRED
    subnet = interpolate(COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"], secrets)
    assert app_env("web", secrets)["FORWARDED_ALLOW_IPS"] == subnet == "172.30.57.0/24"
    moved = secrets | {"APP_SUBNET": "10.77.0.0/24"}
    assert app_env("web", moved)["FORWARDED_ALLOW_IPS"] == "10.77.0.0/24"
    assert app_env("web", secrets | {"FORWARDED_ALLOW_IPS": "10.0.0.5"})["FORWARDED_ALLOW_IPS"] == "10.0.0.5"
    # Only through the proxy: published on the host's loopback; uvicorn reads FORWARDED_ALLOW_IPS itself.
    assert all(interpolate(port, secrets).startswith("127.0.0.1:") for port in SERVICES["web"]["ports"])
    assert "proxy_headers=True" in (ROOT / "starters" / "cli.py").read_text()
    assert "FORWARDED_ALLOW_IPS" not in SERVICES["worker"]["environment"]


# --- What the stack publishes, and to whom ---------------------------------------------------------------


def test_every_published_port_is_bound_to_localhost_by_default() -> None:
    """Each `ports` entry, read as compose reads it with nothing but the required variables set: a host address
    of 127.0.0.1 in front (never a bare `PORT:PORT`, which is every interface). Only the buyer app, the Temporal
    UI and Mailpit's inbox are published."""
    ports = {
        name: [interpolate(str(port), REQUIRED) for port in service.get("ports", [])]
        for name, service in SERVICES.items()
    }
    assert {name for name, given in ports.items() if given} == {"web", "temporal-ui", "mailpit"}
    for name, given in ports.items():
        for port in given:
            assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", port), (name, port)
    # Only the buyer app's can move (a load balancer on another machine); the pages without a sign-in cannot.
    moved = {"PUBLISH_ADDRESS": "10.1.2.3"}
    assert interpolate(SERVICES["web"]["ports"][0], REQUIRED | moved) == "10.1.2.3:8000:8000"
    for name in ("temporal-ui", "mailpit"):
        assert interpolate(SERVICES[name]["ports"][0], REQUIRED | moved).startswith("127.0.0.1:"), name


def test_temporal_frontend_and_postgresql_are_not_published() -> None:
    """Temporal's frontend takes any signal or termination from whoever reaches it; only the stack's services
    do (over its network), and the frontend still listens there for them."""
    for name in ("temporal", "postgresql"):
        assert "ports" not in SERVICES[name], name
    assert SERVICES["temporal"]["environment"]["BIND_ON_IP"] == "0.0.0.0"  # inside its container, for the network
    assert all(SERVICES[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233" for name in ("temporal-ui",))


def test_temporal_ui_write_actions_are_disabled() -> None:
    """Whoever opens the UI reads quotes but cannot signal, cancel, terminate, reset or start a workflow (a quote
    marked paid from the UI was the attack); ops act through `renewals` commands."""
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"


def test_mailpit_runs_only_in_the_dev_profile() -> None:
    """Mailpit's inbox shows every sign-in link: it starts only with `--profile dev`, nothing waits for it, and
    every other service starts without a profile."""
    assert SERVICES["mailpit"]["profiles"] == ["dev"]
    for name, service in SERVICES.items():
        assert "mailpit" not in service.get("depends_on", {}), name
        if name != "mailpit":
            assert "profiles" not in service, name
    assert "Mailpit" in section("Production") and "--profile dev" in section("Production")


def test_smtp_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_CA_FILE, SMTP_USERNAME and SMTP_PASSWORD pass from the operator's
    environment to the worker as the settings the mailer reads; unset, Mailpit of the dev profile, no TLS and
    no login."""
    from runtime.settings import Settings

    real = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_STARTTLS": "true",
        "SMTP_CA_FILE": "/run/secrets/smtp-ca.pem",
        "SMTP_USERNAME": "quotes@example.com",
        "SMTP_PASSWORD": "an SMTP password",
    }
    for service in COMMANDS:
        given = app_env(service, REQUIRED | real)
        assert {name: given[name] for name in real} == real, service
    for name, value in app_env("worker", REQUIRED | real).items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("smtp.example.com", 587, True)
    assert (settings.smtp_ca_file, settings.smtp_username) == ("/run/secrets/smtp-ca.pem", "quotes@example.com")
    assert settings.smtp_password is not None and settings.smtp_password.get_secret_value() == "an SMTP password"
    for name, value in app_env("worker", REQUIRED).items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("mailpit", 1025, False)
    # Empty is as good as unset where the mailer reads them: the system's CAs, and no login.
    assert not settings.smtp_ca_file and not settings.smtp_username and not settings.smtp_password


def test_dockerfile_installs_the_wheel_not_a_list_of_folders() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = sorted(APP_PACKAGES)
    assert not [line for line in dockerfile.splitlines() if re.match(rf"COPY ({'|'.join(packages)})\b", line)]
    assert "COPY . ." in dockerfile and "pip wheel" in dockerfile and "renewal_quotes-*.whl" in dockerfile
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", ".git", "tests", "mutants"} <= ignored
