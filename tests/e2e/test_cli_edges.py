"""The real `renewals` command at the edges of what it takes (issue 20): a data file that JSON allows but the
data file does not (a key twice, a huge number, deep nesting, a date outside 1970-2200, a name that breaks a
line or turns text around) exits 2 naming the place and writes nothing; the webhook receiver needs a secret."""

import json
import re
import secrets
from datetime import date
from pathlib import Path

import psycopg
import pytest

from tests.helpers import free_port, renewals
from workers.demo_data import demo_data


@pytest.fixture
def shell(cli_env: dict[str, str], database_url: str, env) -> dict[str, str]:
    """The command against this test's PostgreSQL database and its own Temporal test server."""
    return cli_env | {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host}


def demo_text() -> str:
    return demo_data(date.today()).model_dump_json(indent=2)


def with_name(name: str) -> str:
    data = json.loads(demo_text())
    data["customers"][0]["name"] = name
    return json.dumps(data)


def with_end_date(day: str) -> str:
    data = json.loads(demo_text())
    data["subscriptions"][3]["end_date"] = day
    return json.dumps(data)


BAD_FILES = {
    "duplicate key": (
        lambda: '{"customers": [],' + demo_text()[1:],
        "customers: the key is given more than once in one object",
    ),
    "huge number": (
        lambda: re.sub(r'"seats": [0-9]+', '"seats": ' + "9" * 5000, demo_text(), count=1),
        "subscriptions[0].seats: a number of 5000 characters (at most 50)",
    ),
    "deep nesting": (
        lambda: demo_text().replace('"customers": [', '"customers": [' + "[" * 100_000 + "]" * 100_000 + ",", 1),
        "line 2 column 47: nested deeper than 32 levels",
    ),
    "line separator": (
        lambda: with_name("Acme\u2028Subject: injected"),
        "customers[0].name: Value error, contains a line separator (U+2028)",
    ),
    "bidi override": (
        lambda: with_name("Acme \u202egnp.exe"),
        "customers[0].name: Value error, contains a bidirectional text control (U+202E)",
    ),
    "end date 9999-12-31": (
        lambda: with_end_date("9999-12-31"),
        "subscriptions[3].end_date: Value error, 9999-12-31 is outside 1970-01-01..2200-12-31",
    ),
}


def rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("customers", "subscriptions", "prices", "promotions")
        )


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_load_refuses_what_json_allows_but_a_data_file_does_not_exit_2_naming_the_place_nothing_written(
    shell, database_url: str, tmp_path: Path, case: str
) -> None:
    make, expected = BAD_FILES[case]
    bad = tmp_path / "bad.json"
    bad.write_text(make(), encoding="utf-8")
    result = renewals("load", str(bad), env=shell)
    assert result.returncode == 2, result.stderr
    assert "nothing was loaded" in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    as_json = renewals("load", str(bad), "--json", env=shell)
    assert as_json.returncode == 2 and any(expected in d for d in json.loads(as_json.stdout)["error"]["details"])
    assert rows(database_url) == 0


@pytest.mark.parametrize("secret", ["", "  "])
def test_webhooks_listen_refuses_an_empty_webhook_secret_exit_2(cli_env: dict[str, str], secret: str) -> None:
    result = renewals(
        "webhooks", "listen", "--port", str(free_port()), env=cli_env | {"WEBHOOK_SECRET": secret}, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: WEBHOOK_SECRET is empty: it is what the signatures are checked with")
    assert "receiving webhooks" not in result.stdout


def test_worker_refuses_a_task_queue_it_does_not_know_exit_2_before_connecting(cli_env: dict[str, str]) -> None:
    refused = renewals("worker", "--queues", "quotes,payments", env=cli_env | {"TEMPORAL_ADDRESS": "127.0.0.1:9"})
    assert refused.returncode == 2
    assert "WORKER_QUEUES: 'quotes,payments' is not a list of quotes and calendars" in refused.stderr


@pytest.mark.parametrize("command", [["worker"], ["web"]])
def test_stripe_payments_without_an_api_key_stop_the_start_exit_2_naming_it(
    cli_env: dict[str, str], command: list[str]
) -> None:
    env = {k: v for k, v in cli_env.items() if not k.startswith("STRIPE_")}
    env |= {
        "RENEWALS_PAYMENTS": "stripe",
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "BUYER_LINK_SECRET": secrets.token_hex(32),
    }
    refused = renewals(*command, env=env, timeout=30)
    assert refused.returncode == 2, refused.stderr
    assert "RENEWALS_PAYMENTS=stripe needs STRIPE_API_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr
