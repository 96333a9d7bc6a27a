"""The real `renewals` command: load, subscriptions and groups, people's tables and --json."""

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.helpers import renewals
from workers.demo_data import ACME, DE_VRIES, SAKURA, demo_data


@pytest.fixture
def shell(cli_env: dict[str, str], database_url: str, env) -> dict[str, str]:
    """The command against this test's PostgreSQL database and its own Temporal test server."""
    return cli_env | {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host}


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.json"
    path.write_text(demo_data(date.today()).model_dump_json(indent=2))
    return path


def test_load_twice_changes_nothing(shell, demo_file: Path) -> None:
    first = renewals("load", str(demo_file), "--json", env=shell)
    second = renewals("load", str(demo_file), "--json", env=shell)
    assert first.returncode == second.returncode == 0, first.stderr
    assert json.loads(first.stdout)["subscriptions"] == {"new": 16, "changed": 0, "unchanged": 0, "kept": 0}
    assert json.loads(second.stdout)["subscriptions"] == {"new": 0, "changed": 0, "unchanged": 16, "kept": 0}
    # Each new subscription's calendar is started once; unchanged rows cost no Temporal call.
    assert json.loads(first.stdout)["calendars"] == {"started": 16, "told": 0}
    assert json.loads(second.stdout)["calendars"] == {"started": 0, "told": 0}
    assert "16 unchanged" in renewals("load", str(demo_file), env=shell).stdout


def test_bad_file_exit_2_names_field_and_writes_nothing(shell, demo_file: Path, tmp_path: Path) -> None:
    raw = json.loads(demo_file.read_text())
    raw["subscriptions"][3]["seats"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    result = renewals("load", str(bad), env=shell)
    assert result.returncode == 2
    assert "subscriptions[3].seats: Input should be greater than or equal to 1" in result.stderr
    assert "nothing was loaded" in result.stderr
    assert renewals("subscriptions", "--csn", ACME, env=shell).returncode == 2


def test_bad_file_json_error_object(shell, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = renewals("load", str(bad), "--json", env=shell)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["rule"] is None and "not valid JSON" in error["message"]


def test_missing_file_exit_2(shell, tmp_path: Path) -> None:
    result = renewals("load", str(tmp_path / "nope.json"), env=shell)
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_r01_subscriptions_json_says_eligible_and_why_not(shell, demo_file: Path) -> None:
    renewals("load", str(demo_file), env=shell)
    result = renewals("subscriptions", "--csn", ACME, "--json", env=shell)
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    opens = date.fromisoformat(rows["SUB-1004"]["end_date"]) - timedelta(days=90)
    assert rows["SUB-1004"]["reason"] == f"R01: window opens {opens.isoformat()}"
    assert rows["SUB-1005"]["reason"].startswith("R01: window closed ")
    assert rows["SUB-1006"]["reason"] == "R10: success plans cannot be renewed in self-service"
    assert rows["SUB-1001"]["eligible"] is True and rows["SUB-1001"]["reason"] is None
    assert set(rows["SUB-1001"]) == {
        "id",
        "csn",
        "product",
        "seats",
        "term",
        "currency",
        "purchase_method",
        "partner_csn",
        "start_date",
        "end_date",
        "auto_renew",
        "auto_renew_held_by",
        "eligible",
        "reason",
    }


def test_subscriptions_table_for_people(shell, demo_file: Path) -> None:
    renewals("load", str(demo_file), env=shell)
    out = renewals("subscriptions", "--csn", ACME, env=shell).stdout
    assert out.splitlines()[0].split()[:3] == ["ID", "PRODUCT", "SEATS"]
    assert "no (R10: success plans cannot be renewed in self-service)" in out


def test_r05_r08_groups_json(shell, demo_file: Path) -> None:
    renewals("load", str(demo_file), env=shell)
    groups = json.loads(renewals("groups", "--csn", DE_VRIES, "--json", env=shell).stdout)
    assert [(g["key"], [s["id"] for s in g["subscriptions"]]) for g in groups] == [
        (f"{DE_VRIES}/EUR/partner/5200000001", ["SUB-2001", "SUB-2002"]),
        (f"{DE_VRIES}/EUR/partner/5200000002", ["SUB-2003"]),
    ]
    sakura = json.loads(renewals("groups", "--csn", SAKURA, "--json", env=shell).stdout)
    assert [g["key"] for g in sakura] == [
        f"{SAKURA}/EUR/direct",
        f"{SAKURA}/JPY/direct",
        f"{SAKURA}/JPY/partner/5200000002",
    ]


def test_unknown_csn_exit_2(shell, demo_file: Path) -> None:
    for command in ("subscriptions", "groups"):
        result = renewals(command, "--csn", "5100009999", env=shell)
        assert result.returncode == 2
        assert result.stderr.strip() == "error: unknown customer CSN 5100009999"


def test_no_database_configured_is_a_clear_error(cli_env) -> None:
    result = renewals("groups", "--csn", ACME, env=cli_env)
    assert result.returncode == 2 and "no database" in result.stderr


def test_r18_load_resync_tells_every_open_calendar_again(shell, demo_file: Path) -> None:
    assert renewals("load", str(demo_file), env=shell).returncode == 0
    resync = renewals("load", "--resync", "--json", env=shell)
    assert resync.returncode == 0, resync.stderr
    assert json.loads(resync.stdout)["calendars"]["told"] >= 15
    nothing = renewals("load", env=shell)
    assert nothing.returncode == 2 and "needs FILE.json" in nothing.stderr


def test_r18_stale_file_row_reported_as_kept(shell, demo_file: Path, database_url: str) -> None:
    import psycopg

    assert renewals("load", str(demo_file), env=shell).returncode == 0
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE subscriptions SET end_date = end_date + 365 WHERE id = 'SUB-1001'")
    again = renewals("load", str(demo_file), "--json", env=shell)
    result = json.loads(again.stdout)
    assert result["subscriptions"]["kept"] == 1 and [k["id"] for k in result["kept"]] == ["SUB-1001"]
    assert "kept           SUB-1001: the file ends it" in renewals("load", str(demo_file), env=shell).stdout


def test_bounds_huge_seat_count_refused_at_once_naming_the_field(shell, demo_file: Path, database_url: str) -> None:
    import psycopg

    renewals("load", str(demo_file), env=shell)
    result = renewals(
        "quote",
        "create",
        "--csn",
        ACME,
        "--subscription",
        "SUB-1001",
        "--origin",
        "sales",
        "--seats",
        "SUB-1001=99999999999",
        env=shell,
        timeout=20,
    )
    assert result.returncode == 2
    assert "seats.SUB-1001: Input should be less than or equal to 1000000" in result.stderr
    as_json = renewals(
        "quote",
        "create",
        "--csn",
        ACME,
        "--subscription",
        "SUB-1001",
        "--address",
        "x" * 501,
        "--json",
        env=shell,
        timeout=20,
    )
    assert as_json.returncode == 2 and "address" in json.loads(as_json.stdout)["error"]["details"][0]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM quotes").fetchone()[0] == 0
