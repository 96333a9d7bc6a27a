"""The real `renewals` command: the load summary's counts add up to the file, and `renewals webhooks listen`
on a port that is taken says so (and who holds it) before it says it is receiving."""

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from tests.helpers import BIN, free_port, renewals, until_listening
from workers.demo_data import demo_data


@pytest.fixture
def shell(cli_env: dict[str, str], database_url: str, env) -> dict[str, str]:
    """The command against this test's PostgreSQL database and its own Temporal test server."""
    return cli_env | {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host}


def test_r18_the_load_summary_counts_each_subscription_once_kept_ones_apart(
    shell, tmp_path: Path, database_url: str
) -> None:
    data = demo_data(date.today())
    demo_file = tmp_path / "demo-data.json"
    demo_file.write_text(data.model_dump_json(indent=2))
    assert renewals("load", str(demo_file), env=shell).returncode == 0
    with psycopg.connect(database_url) as conn:  # as when this system renewed two terms since the export
        conn.execute("UPDATE subscriptions SET end_date = end_date + 365 WHERE id IN ('SUB-1001', 'SUB-1003')")
    again = renewals("load", str(demo_file), env=shell)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert (
        "subscriptions  0 new, 0 changed, 14 unchanged, 2 kept "
        "(renewed here since the file's export; each keeps its stored term, R18)"
    ) in lines
    assert [line.split(":")[0] for line in lines if line.startswith("kept ")] == [
        "kept           SUB-1001",
        "kept           SUB-1003",
    ]
    counts = json.loads(renewals("load", str(demo_file), "--json", env=shell).stdout)["subscriptions"]
    assert counts == {"new": 0, "changed": 0, "unchanged": 14, "kept": 2}
    assert sum(counts.values()) == len(data.subscriptions) == 16


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port this test listens on, as another receiver would."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def listen(port: int, env: dict[str, str]):
    return renewals("webhooks", "listen", "--port", str(port), env=env | {"WEBHOOK_SECRET": "whsec_t"}, timeout=30)


def test_webhooks_listen_on_a_taken_port_exit_2_before_saying_it_receives(
    cli_env: dict[str, str], taken_port: int
) -> None:
    result = listen(taken_port, cli_env)
    assert result.returncode == 2
    assert "receiving webhooks" not in result.stdout
    assert result.stderr.startswith(f"error: port {taken_port} is in use: stop what listens there, or choose --port ")
    assert "Traceback" not in result.stderr and "address already in use" not in result.stderr


def test_webhooks_listen_on_the_dev_stacks_receiver_port_says_where_its_events_are(
    cli_env: dict[str, str], taken_port: int
) -> None:
    var = Path(cli_env["RENEWALS_VAR"])
    var.mkdir(parents=True)
    # What a running `renewals dev` of this var/ writes; this test's process holds the receiver's port.
    (var / "dev.env").write_text(
        f"WEBHOOK_URLS=http://127.0.0.1:{taken_port}/webhooks\nWEBHOOK_SECRET=whsec_dev\nRENEWALS_DEV_PID={os.getpid()}\n"
    )
    result = listen(taken_port, cli_env)
    assert result.returncode == 2
    assert "receiving webhooks" not in result.stdout
    said = result.stderr.splitlines()
    assert said[0] == (
        f"error: port {taken_port} is in use: the dev stack (renewals dev, pid {os.getpid()}) already runs a "
        "webhook receiver on it"
    )
    assert said[1] == f"  its events are in {var / 'webhooks'}, one JSON file per event"
    assert said[2].startswith("  a receiver of your own: renewals webhooks listen --port ")


def listening(cli_env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`renewals webhooks listen` on a free port, once it accepts connections."""
    port = free_port()
    listener = subprocess.Popen(
        [str(BIN / "renewals"), "webhooks", "listen", "--port", str(port)],
        env=cli_env | {"WEBHOOK_SECRET": "whsec_t"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        until_listening(listener, port, timeout=20)
    except BaseException:
        listener.kill()
        listener.communicate(timeout=20)
        raise
    return listener, port


def test_webhooks_listen_on_a_free_port_says_it_receives(cli_env: dict[str, str]) -> None:
    listener, port = listening(cli_env)
    try:
        said = listener.stdout.readline() if listener.stdout else ""
    finally:
        listener.send_signal(signal.SIGINT)
        output = said + listener.communicate(timeout=20)[0]
    assert listener.returncode == 0, output
    assert output.startswith(f"receiving webhooks on http://127.0.0.1:{port}/webhooks")


def test_webhooks_listen_stopped_the_moment_it_listens_ends_cleanly(cli_env: dict[str, str]) -> None:
    """Ctrl-C that comes before the server has taken over the signal is a normal end too, never 'Aborted!'."""
    listener, _port = listening(cli_env)
    listener.send_signal(signal.SIGINT)
    output = listener.communicate(timeout=20)[0]
    assert listener.returncode == 0, output
    assert "Aborted" not in output and "Traceback" not in output
