"""R20 on the embedded stack as a user runs it: `renewals dev` killed (SIGKILL, every process) at a known
point of a payment, restarted, and the quote paid once with its term renewed once; the audit clean."""

import json
import os
import signal
import subprocess
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tests.helpers import BIN, DevProcess, alive, renewals
from workers.demo_data import ACME, demo_data


def waiting(watch: psycopg.Connection, statement: str) -> bool:
    """A statement of the stack's worker waits on a lock the test holds."""
    row = watch.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        (statement + "%",),
    ).fetchone()
    return bool(row and row[0])


def eventually(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


PAYMENT_WRITE = "INSERT INTO payments"
RENEWAL_READ = (
    "SELECT id, end_date, seats, term, partner_csn, purchase_method, currency FROM subscriptions"
    " WHERE id = $1 FOR UPDATE"
)


@pytest.mark.parametrize("kill_point", ["payment being recorded", "paid, renewal being recorded"])
def test_r20_dev_stack_killed_mid_payment_restarts_clean_pays_and_renews_once_and_stops_everything(
    dev: DevProcess, tmp_path: Path, kill_point: str
) -> None:
    """SIGKILL of the whole stack at a known point of an offline payment: locks the test holds in the stack's
    PostgreSQL (which outlives the kill) stop the worker there. Either the payment's row is being written
    (the term reserved), or it is written and the term's renewal is being recorded. After a restart the quote
    ends paid: one payment of its total, one renewal of SUB-1001."""
    dev.start_with_demo_data()
    created = renewals("quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--send", "--json", env=dev.env)
    quote = json.loads(created.stdout)
    number, total = quote["number"], Decimal(quote["total"])
    url = dev.dev_env()["DATABASE_URL"]
    with psycopg.connect(url) as payments_lock, psycopg.connect(url) as row_lock, psycopg.connect(url) as watch:
        watch.autocommit = True
        # INSERTs into payments wait; reading goes on.
        payments_lock.execute("LOCK TABLE payments IN SHARE MODE")
        paying = subprocess.Popen(
            [str(BIN / "renewals"), "quote", "accept", number, "--pay", "--reference", "BANK-1"],
            env=dev.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        eventually(lambda: waiting(watch, PAYMENT_WRITE), "the payment's row being written")
        reserved = watch.execute("SELECT reserved_by FROM subscriptions WHERE id = 'SUB-1001'").fetchone()
        assert reserved == (number,)
        if kill_point == "paid, renewal being recorded":
            # SUB-1001's row held, then the payment let through: its renewal waits for the row.
            row_lock.execute("SELECT 1 FROM subscriptions WHERE id = 'SUB-1001' FOR UPDATE")
            payments_lock.rollback()
            eventually(lambda: waiting(watch, RENEWAL_READ), "the renewal of SUB-1001 being recorded")
            paid = watch.execute("SELECT count(*) FROM payments WHERE quote_number = %s", (number,)).fetchone()
            assert paid == (1,)
        else:
            assert watch.execute("SELECT count(*) FROM payments").fetchone() == (0,)
        assert watch.execute("SELECT count(*) FROM renewals WHERE subscription_id = 'SUB-1001'").fetchone() == (0,)
        os.killpg(dev.process.pid, signal.SIGKILL)
        dev.process.wait(10)
        payments_lock.rollback()
        row_lock.rollback()
    paying.wait(60)
    handles = json.loads((dev.var / "pg" / ".handle_pids.json").read_text() or "[]")
    assert dev.process.pid in handles

    dev.start()
    assert "recovering from a crashed run: 1 dead PostgreSQL handle(s) pruned" in dev.log.read_text()
    # The buyer who saw an error pays again: the quote ends paid, once.
    for _ in range(60):
        shown = json.loads(renewals("quote", "show", number, "--json", env=dev.env).stdout)
        if shown["state"] == "paid":
            break
        if shown["state"] == "sent" or shown["state"] == "accepted":
            renewals("quote", "accept", number, "--pay", "--reference", "BANK-1", env=dev.env)
        time.sleep(0.5)
    assert shown["state"] == "paid" and shown["payment_reference"] == "BANK-1"
    subs = {s["id"]: s for s in json.loads(renewals("subscriptions", "--csn", ACME, "--json", env=dev.env).stdout)}
    sub = next(s for s in demo_data(date.today()).subscriptions if s.id == "SUB-1001")
    renewed_to = sub.term.next_end_date(sub.end_date)
    assert subs["SUB-1001"]["end_date"] == renewed_to.isoformat()
    with psycopg.connect(dev.dev_env()["DATABASE_URL"]) as conn:
        payments = conn.execute(
            "SELECT quote_number, reference, amount, currency, refunded_at FROM payments"
        ).fetchall()
        renewed = conn.execute(
            "SELECT quote_number, source, from_end_date, to_end_date FROM renewals WHERE subscription_id = 'SUB-1001'"
        ).fetchall()
    assert payments == [(number, "BANK-1", total, "EUR", None)]
    assert renewed == [(number, "quote", sub.end_date, renewed_to)]

    audited = renewals("ops", "audit", env=dev.env)
    assert audited.returncode == 0 and "audit clean" in audited.stdout, audited.stdout + audited.stderr

    stack = dev.processes()
    assert any("postgres" in p.name() for p in stack)
    assert dev.ctrl_c() == 0
    assert alive(stack) == [] and alive(dev.processes()) == []
