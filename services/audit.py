"""`renewals ops audit` (and GET /api/v1/audit): money and terms reconciled from the store and the payment
provider (DESIGN.md, Faults). Each quote's net money (charges minus refunds, and offline payments) is its
total if it is paid and zero otherwise; each renewed term has one source, a paid quote or an
auto-renewal; no hold or reservation belongs to an ended quote; each open subscription has a running
calendar. A quote whose payment is still being confirmed is left to `renewals ops stuck`."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client

from contracts import subscription as calendar
from domain.money import format_money
from payments.gateway import PaymentGateway, idempotency_key
from store import audit as store
from store.pool import Pool

TERMINAL = ("paid", "expired", "cancelled")


class Violation(BaseModel):
    kind: Literal["money", "term", "hold", "reservation", "calendar"]
    subject: str
    detail: str


class AuditReport(BaseModel):
    clean: bool
    quotes: int
    subscriptions: int
    pending: list[str]
    violations: list[Violation]


async def audit(client: Client, pool: Pool, gateway: PaymentGateway, calendars: bool = True) -> AuditReport:
    """`calendars`: also check that each open subscription has a running calendar (visibility)."""
    async with pool.connection() as conn:
        quotes = await store.accepted_quotes(conn)
        paid_lines = await store.renewal_lines_of_paid_quotes(conn)
        renewals = await store.renewals(conn)
        claims = await store.holds_and_reservations(conn)
        open_ids = await store.open_subscription_ids(conn)
    pending = [q["number"] for q in quotes if q["payment"] == "pending" and q["state"] not in TERMINAL]
    violations = [
        *[v for q in quotes if q["number"] not in pending for v in await _money(gateway, q)],
        *_terms(paid_lines, renewals),
        *_claims(claims),
        *(await _calendars(client, open_ids) if calendars else []),
    ]
    return AuditReport(
        clean=not violations,
        quotes=len(quotes),
        subscriptions=len(open_ids),
        pending=pending,
        violations=violations,
    )


async def _money(gateway: PaymentGateway, quote: dict) -> list[Violation]:
    number, currency = quote["number"], quote["currency"]
    charge = await gateway.find(idempotency_key(number))
    held = Decimal(0)
    if charge is not None and not charge.refunded:
        held += charge.amount
    if quote["method"] == "offline" and quote["refunded_at"] is None:
        held += quote["paid_amount"]
    expected = quote["total"] if quote["state"] == "paid" else Decimal(0)
    if held == expected:
        return []
    return [
        Violation(
            kind="money",
            subject=number,
            detail=f"{number} is {quote['state']} and holds {format_money(held, currency)}; "
            f"it should hold {format_money(expected, currency)}",
        )
    ]


def _terms(paid_lines: list[dict], renewals: list[dict]) -> list[Violation]:
    found: list[Violation] = []
    by_term = {(r["subscription_id"], r["from_end_date"]): r for r in renewals}
    for r in renewals:
        if r["source"] == "quote" and r["quote_state"] != "paid":
            term = f"{r['subscription_id']} (term ending {r['from_end_date']})"
            found.append(
                Violation(
                    kind="term",
                    subject=r["subscription_id"],
                    detail=f"{term} was renewed by {r['quote_number']}, which is {r['quote_state'] or 'unknown'}",
                )
            )
    for line in paid_lines:
        renewal = by_term.get((line["subscription_id"], line["end_date"]))
        if renewal is None or renewal["quote_number"] != line["quote_number"]:
            by = "nothing" if renewal is None else (renewal["quote_number"] or renewal["source"])
            found.append(
                Violation(
                    kind="term",
                    subject=line["subscription_id"],
                    detail=f"{line['quote_number']} is paid, but the term of {line['subscription_id']} ending "
                    f"{line['end_date']} was renewed by {by}",
                )
            )
    return found


def _claims(claims: list[dict]) -> list[Violation]:
    return [
        Violation(
            kind=c["kind"],
            subject=c["subscription_id"],
            detail=f"{c['subscription_id']} has a {c['kind']} of {c['quote_number']}, which is {c['state'] or 'unknown'}",
        )
        for c in claims
        if c["state"] is None or c["state"] in TERMINAL
    ]


async def _calendars(client: Client, open_ids: list[str]) -> list[Violation]:
    running = set()
    query = f'WorkflowType = "{calendar.WORKFLOW}" AND ExecutionStatus = "Running"'
    async for execution in client.list_workflows(query):
        running.add(execution.id)
    return [
        Violation(kind="calendar", subject=sub_id, detail=f"{sub_id} is open but has no running calendar")
        for sub_id in open_ids
        if calendar.workflow_id(sub_id) not in running
    ]
