"""End to end on the Temporal dev server through the real `renewals` command, as a backend system runs it."""

import asyncio
import json
from datetime import date
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import quote_workflow_id
from tests.helpers import money, quote_result, quote_stack, renewals, rows, scalar, subscription_row
from workers.demo_data import ACME, demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def cli(env_vars: dict[str, str], *args: str):
    return await asyncio.to_thread(renewals, *args, env=env_vars)


async def visible(client, query: str) -> list[str]:
    """Visibility is eventually consistent: ask until the workflow shows up."""
    for _ in range(100):
        ids = [w.id async for w in client.list_workflows(query)]
        if ids:
            return ids
        await asyncio.sleep(0.1)
    return []


async def test_create_send_accept_pay_with_the_cli(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars
) -> None:
    async with quote_stack(dev_env, pool, settings):
        before = await subscription_row(pool, "SUB-1002")
        created = await cli(
            env_vars,
            "quote",
            "create",
            "--csn",
            ACME,
            "--subscription",
            "SUB-1001",
            "--subscription",
            "SUB-1002",
            "--seats",
            "SUB-1002=2",
            "--recipient",
            "cfo@acme.example",
            "--send",
            "--json",
        )
        assert created.returncode == 0, created.stderr
        quote = json.loads(created.stdout)
        number = quote["number"]
        assert (quote["state"], quote["total"], quote["discount_total"]) == ("sent", "14607.00", "1623.00")
        assert quote["recipients"] == ["buyer@acme.example", "cfo@acme.example"]

        subs = {s["id"]: s for s in json.loads((await cli(env_vars, "subscriptions", "--csn", ACME, "--json")).stdout)}
        assert (subs["SUB-1002"]["auto_renew"], subs["SUB-1002"]["auto_renew_held_by"]) == (False, [number])

        assert json.loads((await cli(env_vars, "quote", "accept", number, "--json")).stdout)["state"] == "accepted"
        paid = await cli(env_vars, "quote", "pay", number, "--reference", "PSP-9")
        assert paid.returncode == 0 and f"Quote {number} · paid" in paid.stdout
        await quote_result(dev_env.client, number)

        again = await cli(env_vars, "quote", "pay", number)
        assert again.returncode == 2 and again.stderr.startswith("refused (lifecycle): ")

        listed = json.loads((await cli(env_vars, "quote", "list", "--state", "paid", "--json")).stdout)
        assert [q["number"] for q in listed] == [number]
        shown = await cli(env_vars, "quote", "show", number)
        assert "RENEW10" in shown.stdout and "EUR 14,607.00" in shown.stdout

        assert await visible(
            dev_env.client,
            f'QuoteState = "paid" AND CustomerCsn = "{ACME}" AND WorkflowId = "{quote_workflow_id(number)}"',
        )
        assert await visible(
            dev_env.client,
            f'QuoteTotal > 14000 AND QuoteCurrency = "EUR" AND '
            f'QuoteOrigin = "self-service" AND WorkflowId = "{quote_workflow_id(number)}"',
        )
        description = await dev_env.client.get_workflow_handle(quote_workflow_id(number)).describe()
        assert (await description.static_summary()).startswith(f"Renewal quote {number} for Acme BV")

    after = await subscription_row(pool, "SUB-1002")
    assert (after["seats"], after["auto_renew"], after["held_by"]) == (2, False, [])  # off before the hold (R03)
    assert after["end_date"] == before["end_date"].replace(year=before["end_date"].year + 1)
    # Both lines renewed by this quote, once: SUB-1001 for its 5 seats, SUB-1002 lowered to 2.
    renewed = await rows(pool, "SELECT subscription_id, seats, quote_number FROM renewals ORDER BY 1")
    assert [(r["subscription_id"], r["seats"], r["quote_number"]) for r in renewed] == [
        ("SUB-1001", 5, number),
        ("SUB-1002", 2, number),
    ]
    # 5 × 2,030.00 − 10% + 2 × 3,040.00 − 10% = 9,135.00 + 5,472.00, paid once, offline, no card charged.
    assert await money(pool, number) == {
        "charges": [],
        "payments": [
            {
                "reference": "PSP-9",
                "amount": Decimal("14607.00"),
                "currency": "EUR",
                "method": "offline",
                "refunded": False,
            }
        ],
    }
    assert sorted(m["Subject"].split(":")[0] for m in mailbox.messages()) == [
        "Paid",
        "Paid",
        f"Renewal quote {number}",
        f"Renewal quote {number}",
    ]


async def test_current_details_read_like_a_row(dev_env: WorkflowEnvironment, pool, settings, env_vars) -> None:
    async with quote_stack(dev_env, pool, settings):
        created = await cli(
            env_vars, "quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--send", "--json"
        )
        quote = json.loads(created.stdout)
        handle = dev_env.client.get_workflow_handle(quote_workflow_id(quote["number"]))
        metadata = await handle.query("__temporal_workflow_metadata")
        expires = quote["expires_at"][:10]
        assert metadata.current_details == f"{quote['number']} · sent · EUR 9,135.00 · expires {expires}"
        assert await visible(
            dev_env.client,
            f'QuoteState = "sent" AND QuoteExpiresAt > "{date.today()}T00:00:00Z" AND WorkflowId = "{handle.id}"',
        )


async def test_cli_refusal_exit_2_and_nothing_created(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars
) -> None:
    async with quote_stack(dev_env, pool, settings):
        args = ["quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--send"]
        for i in range(5):
            args += ["--recipient", f"r{i}@acme.example"]
        refused = await cli(env_vars, *args)
        assert refused.returncode == 2
        assert (
            refused.stderr.strip() == "refused (R04): a quote goes to the buyer and at most 4 extra recipients; 5 given"
        )
        as_json = await cli(env_vars, *args, "--json")
        assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"]["rule"] == "R04"
        cancel = await cli(env_vars, "quote", "create", "--csn", ACME, "--subscription", "SUB-1004")
        assert cancel.returncode == 2 and cancel.stderr.startswith("refused (R01): SUB-1004 cannot be renewed now")
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0
        assert await scalar(pool, "SELECT count(*) FROM quote_events") == 0
    assert mailbox.messages() == []


async def test_cli_buyer_cancel_refused_r10(dev_env: WorkflowEnvironment, pool, settings, env_vars) -> None:
    async with quote_stack(dev_env, pool, settings):
        number = json.loads(
            (await cli(env_vars, "quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--json")).stdout
        )["number"]
        refused = await cli(env_vars, "quote", "cancel", number, "--as", "buyer")
        assert refused.returncode == 2 and refused.stderr.startswith("refused (R10): a buyer cannot cancel")
        assert (await cli(env_vars, "quote", "cancel", number, "--as", "sales")).returncode == 0
        unknown = await cli(env_vars, "quote", "show", "Q-999999")
        assert unknown.returncode == 2 and "unknown quote Q-999999" in unknown.stderr


async def test_r16_second_quote_for_a_paid_term_refused_with_the_cli(
    dev_env: WorkflowEnvironment, pool, settings, env_vars, tmp_path
) -> None:
    async with quote_stack(dev_env, pool, settings):
        before = await subscription_row(pool, "SUB-1001")
        create = ["quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--send", "--json"]
        first = json.loads((await cli(env_vars, *create)).stdout)["number"]
        second = json.loads((await cli(env_vars, *create)).stdout)["number"]
        paid = await cli(env_vars, "quote", "accept", first, "--pay", "--reference", "BANK-1")
        assert paid.returncode == 0, paid.stderr
        refused = await cli(env_vars, "quote", "accept", second, "--pay", "--reference", "BANK-2")
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"refused (R16): SUB-1001 was renewed by {first} on ")
        assert refused.stderr.strip().endswith("; this quote can no longer be paid")
        await quote_result(dev_env.client, second)
        shown = json.loads((await cli(env_vars, "quote", "show", second, "--json")).stdout)
        assert (shown["state"], shown["cancelled_by"], shown["cancel_reason"]) == (
            "cancelled",
            "system",
            f"superseded by {first}",
        )
        assert await scalar(pool, "SELECT count(*) FROM payments WHERE quote_number = %s", second) == 0

        demo = tmp_path / "demo.json"
        demo.write_text(demo_data(date.today()).model_dump_json())
        loaded = await cli(env_vars, "load", str(demo), "--json")
        assert loaded.returncode == 0, loaded.stderr
        assert [k["id"] for k in json.loads(loaded.stdout)["kept"]] == ["SUB-1001"]
        subs = {s["id"]: s for s in json.loads((await cli(env_vars, "subscriptions", "--csn", ACME, "--json")).stdout)}
        assert subs["SUB-1001"]["end_date"] == before["end_date"].replace(year=before["end_date"].year + 1).isoformat()


async def test_r23_quote_revise_with_the_cli(dev_env: WorkflowEnvironment, pool, settings, env_vars) -> None:
    async with quote_stack(dev_env, pool, settings):
        create = ["quote", "create", "--csn", ACME, "--subscription", "SUB-1001", "--origin", "partner", "--send"]
        number = json.loads((await cli(env_vars, *create, "--json")).stdout)["number"]
        refused = await cli(env_vars, "quote", "revise", number, "--origin", "self-service")
        assert refused.returncode == 2 and refused.stderr.startswith("refused (R10): a buyer cannot revise")
        revised = await cli(env_vars, "quote", "revise", number, "--seats", "SUB-1001=9", "--send")
        assert revised.returncode == 0, revised.stderr
        assert f"revises     {number} (R23)" in revised.stdout
        revision = revised.stdout.split()[1]
        await quote_result(dev_env.client, number)
        shown = await cli(env_vars, "quote", "show", number)
        assert f"revised by  {revision} (R23)" in shown.stdout
        assert f"cancelled   by system: revised by {revision}" in shown.stdout
        assert "auto-renew  held" not in shown.stdout
        second = await cli(env_vars, "quote", "revise", number)
        assert second.returncode == 2 and second.stderr.startswith(f"refused (R23): quote {number} was revised by")


async def test_r29_accept_by_bank_transfer_then_pay_by_its_reference_with_the_cli(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars
) -> None:
    """`quote accept --bank-transfer` then `quote pay --reference RF..`: a wrong amount is refused with the
    difference, exit 2, nothing changed; the total pays once, offline."""
    from domain.bank_transfer import printed, rf_reference

    async with quote_stack(dev_env, pool, settings):
        created = await cli(env_vars, "quote", "create", "--csn", ACME, "--subscription", "SUB-1002", "--send")
        assert created.returncode == 0, created.stderr
        number = created.stdout.split()[1]
        reference = rf_reference(number)
        both = await cli(env_vars, "quote", "accept", number, "--pay", "--bank-transfer")
        assert both.returncode == 2 and "choose one" in both.stderr
        accepted = await cli(env_vars, "quote", "accept", number, "--bank-transfer")
        assert accepted.returncode == 0, accepted.stderr
        assert f"payment     by bank transfer, reference {reference} (R29)" in accepted.stdout
        shown = json.loads((await cli(env_vars, "quote", "show", number, "--json")).stdout)
        assert (shown["state"], shown["transfer_reference"], shown["payment"]) == ("accepted", reference, None)
        total = Decimal(shown["total"])

        bad = await cli(
            env_vars, "quote", "pay", number, "--reference", reference[:-1] + ("1" if reference.endswith("0") else "0")
        )
        assert bad.returncode == 2 and "is not a valid ISO 11649 reference" in bad.stderr
        short = await cli(
            env_vars, "quote", "pay", number, "--reference", reference, "--amount", str(total - Decimal("12.34"))
        )
        assert short.returncode == 2
        assert short.stderr.startswith("refused (R29): ") and "differs by EUR 12.34" in short.stderr
        assert await scalar(pool, "SELECT count(*) FROM payments") == 0

        paid = await cli(env_vars, "quote", "pay", number, "--reference", printed(reference), "--print", "state")
        assert (paid.returncode, paid.stdout.strip()) == (0, "paid"), paid.stderr
        await quote_result(dev_env.client, number)
        again = await cli(env_vars, "quote", "pay", number, "--reference", reference)
        assert again.returncode == 2 and again.stderr.startswith("refused (lifecycle): ")
    moved = await money(pool, number)
    assert [(p["reference"], p["amount"], p["method"]) for p in moved["payments"]] == [(reference, total, "offline")]


async def test_r25_r26_r27_partner_and_procurement_commands_with_the_cli(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars
) -> None:
    """A partner's renewal in yen to a new partner; the buyer's request for changes; accept with a PO;
    extend, resend and clone; each refusal exits 2 naming its rule and changes nothing."""
    async with quote_stack(dev_env, pool, settings):
        made = await cli(
            env_vars,
            *("quote", "create", "--csn", "5100000002", "--subscription", "SUB-2002", "--origin", "partner"),
            *("--currency", "JPY", "--new-partner", "5200000003", "--send", "--json"),
        )
        assert made.returncode == 0, made.stderr
        quote = json.loads(made.stdout)
        number = quote["number"]
        assert (quote["currency"], quote["from_currency"], quote["new_partner_csn"]) == ("JPY", "EUR", "5200000003")
        self_service = await cli(
            env_vars,
            "quote",
            "create",
            "--csn",
            "5100000002",
            "--subscription",
            "SUB-2001",
            "--new-partner",
            "5200000003",
        )
        assert self_service.returncode == 2 and self_service.stderr.startswith("refused (R10): a change of partner")

        no_reason = await cli(env_vars, "quote", "answer", number, "--decline", "--message", "no")
        assert no_reason.returncode == 2 and no_reason.stderr.startswith("refused (R26): a decline gives its reason")
        asked = await cli(env_vars, "quote", "answer", number, "--request-changes", "--message", "Ten seats, please")
        assert asked.returncode == 0 and "asks for changes (R26): Ten seats, please" in asked.stdout

        resent = await cli(env_vars, "quote", "resend", number, "--json")
        assert resent.returncode == 0 and json.loads(resent.stdout)["state"] == "sent"
        past = await cli(env_vars, "quote", "extend", number, "--until", "2099-01-01")
        assert past.returncode == 2 and past.stderr.startswith("refused (R15): ")

        long_po = await cli(env_vars, "quote", "accept", number, "--po", "P" * 36)
        assert long_po.returncode == 2 and long_po.stderr.startswith("refused (R27): ")
        accepted = await cli(env_vars, "quote", "accept", number, "--po", "4500012345", "--json")
        assert json.loads(accepted.stdout)["purchase_order"] == "4500012345"
        paid = await cli(env_vars, "quote", "pay", number, "--reference", "PSP-JPY-9")
        assert paid.returncode == 0, paid.stderr
        await quote_result(dev_env.client, number)
        row = await subscription_row(pool, "SUB-2002")
        assert (row["partner_csn"], row["currency"]) == ("5200000003", "JPY")

        # Cloned, its subscription is checked as it is now: renewed, its next window is not open yet (R01).
        cloned = await cli(env_vars, "quote", "clone", number)
        assert cloned.returncode == 2 and cloned.stderr.startswith("refused (R01): SUB-2002 cannot be renewed now")


async def test_r28_invoices_list_show_and_export_with_the_cli(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars
) -> None:
    """Two quotes paid: `renewals invoices list`, `show` and `export --format csv` give their invoices, numbered
    without a gap; an unknown number is refused (exit 2)."""
    async with quote_stack(dev_env, pool, settings):
        numbers = []
        for sub in ("SUB-1001", "SUB-1003"):
            made = await cli(
                env_vars, "quote", "create", "--csn", ACME, "--subscription", sub, "--send", "--print", "number"
            )
            number = made.stdout.strip()
            paid = await cli(
                env_vars, "quote", "accept", number, "--pay", "--reference", f"PSP-{sub}", "--print", "state"
            )
            assert paid.stdout.strip() == "paid", paid.stderr
            await quote_result(dev_env.client, number)
            numbers.append(number)
        year = str(date.today().year)
        listed = json.loads((await cli(env_vars, "invoices", "list", "--year", year, "--json")).stdout)
        shown = await cli(env_vars, "invoices", "show", listed[0]["number"])
        exported = await cli(env_vars, "invoices", "export", "--year", year, "--format", "csv")
        unknown = await cli(env_vars, "invoices", "show", "INV-1999-000001")
    assert [i["quote"] for i in listed] == numbers
    assert [i["number"] for i in listed] == [f"INV-{year}-{n:06d}" for n in (1, 2)]
    assert f"Invoice {listed[0]['number']} · quote {numbers[0]}" in shown.stdout
    rows_out = exported.stdout.splitlines()
    assert rows_out[0].startswith("number,kind,issued_on,quote") and len(rows_out) == 3
    assert unknown.returncode == 2 and "unknown invoice" in unknown.stderr
