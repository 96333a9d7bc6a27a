"""`renewals ops audit` (and GET /api/v1/audit): money and terms reconciled from the store and the payment
provider (docs/faults.md, "The audit"). Each quote's net money (charges minus refunds, and offline payments) is its
total if it is paid and zero otherwise; a payment recorded as refunded was refunded by the provider (an
offline one never is); a charge the provider kept has a payment recorded; each renewed term has one
source, a paid quote or an auto-renewal; no hold or reservation belongs to an ended quote, or to one
whose workflow is no longer running; each open subscription has a running calendar. A quote whose
payment is still being confirmed is left to `renewals ops stuck`.

The provider is asked about each quote's charge one at a time: `since` bounds how many, to the quotes
still open and those accepted, paid, refunded or ended that day or later (`renewals ops audit` and the
API: the last AUDIT_WINDOW_DAYS, 35 days, unless told otherwise). The other checks read the whole store."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts import quote as quote_contract
from contracts import subscription as calendar
from domain.money import format_money
from payments.gateway import Charge, PaymentGateway, PaymentPending, idempotency_key
from store import audit as store
from store.invoices import sequence_gaps
from store.pool import Pool

TERMINAL = ("paid", "expired", "cancelled")
# How a quote workflow that is no longer running ended, as a violation says it.
ENDED: dict[WorkflowExecutionStatus | None, str] = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "was cancelled",
    WorkflowExecutionStatus.TERMINATED: "was terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued as new",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
}


class Violation(BaseModel):
    kind: Literal["money", "refund", "charge", "term", "hold", "reservation", "calendar", "invoice"]
    subject: str
    detail: str


class AuditReport(BaseModel):
    clean: bool
    # The quotes whose money was checked: every accepted or paid one, or those of the window `since` (a day).
    quotes: int
    since: date | None = None
    subscriptions: int
    pending: list[str]
    violations: list[Violation]


def window_start(today: date, days: int) -> date:
    """The first day of the audit's default window: `days` (AUDIT_WINDOW_DAYS) before today."""
    return today - timedelta(days=days)


async def audit(
    client: Client, pool: Pool, gateway: PaymentGateway, calendars: bool = True, since: date | None = None
) -> AuditReport:
    """`calendars`: also check that each open subscription has a running calendar (visibility); `since`:
    ask the provider only about the quotes still open or accepted, paid, refunded or ended from that day
    on (None: every quote ever accepted or paid)."""
    async with pool.connection() as conn:
        quotes = await store.accepted_quotes(conn, since)
        paid_lines = await store.renewal_lines_of_paid_quotes(conn)
        renewals = await store.renewals(conn)
        claims = await store.holds_and_reservations(conn)
        open_ids = await store.open_subscription_ids(conn)
        invoicing = await store.payments_and_invoices(conn)
        gaps = await sequence_gaps(conn)
    pending = [q["number"] for q in quotes if q["payment"] == "pending" and q["state"] not in TERMINAL]
    checked = [q for q in quotes if q["number"] not in pending]
    charges: dict[str, Charge | None] = {}
    undecided: list[Violation] = []
    for q in checked:
        try:
            charges[q["number"]] = await gateway.find(idempotency_key(q["number"]))
        except PaymentPending as err:  # the provider has not decided a payment the quote no longer waits for
            undecided.append(
                Violation(kind="charge", subject=q["number"], detail=f"{q['number']} is {q['state']}, but {err}")
            )
    checked = [q for q in checked if q["number"] in charges]
    violations = [
        *undecided,
        *[v for q in checked for check in MONEY_CHECKS for v in check(q, charges[q["number"]])],
        *_terms(paid_lines, renewals),
        *_claims(claims),
        *await _claims_of_stopped_workflows(client, pool, claims),
        *(await _calendars(client, open_ids) if calendars else []),
        *_invoices(invoicing, gaps),
    ]
    return AuditReport(
        clean=not violations,
        quotes=len(quotes),
        since=since,
        subscriptions=len(open_ids),
        pending=pending,
        violations=violations,
    )


def _money(quote: dict, charge: Charge | None) -> list[Violation]:
    """Money the quote holds (its charge, by its key, and an offline payment) against what it should hold."""
    number, currency = quote["number"], quote["currency"]
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


def _refund(quote: dict, charge: Charge | None) -> list[Violation]:
    """A refund the store records but the provider did not make is money the buyer never got back."""
    number = quote["number"]
    if quote["refunded_at"] is None:
        return []
    if quote["method"] == "offline":
        detail = f"its offline payment {quote['reference']} was never returned by a provider"
    elif charge is None:
        detail = f"the provider has no charge for its key {idempotency_key(number)}"
    elif not charge.refunded:
        detail = (
            f"the provider shows its charge {charge.id} of {format_money(charge.amount, charge.currency)} not refunded"
        )
    else:
        return []
    return [Violation(kind="refund", subject=number, detail=f"{number} is recorded as refunded, but {detail}")]


def _unrecorded(quote: dict, charge: Charge | None) -> list[Violation]:
    """Money the provider kept with no payment row is money the store, and every report on it, does not know."""
    if charge is None or charge.refunded or quote["method"] is not None:
        return []
    number, amount = quote["number"], format_money(charge.amount, charge.currency)
    return [
        Violation(
            kind="charge",
            subject=number,
            detail=f"{number} has a charge {charge.id} of {amount} at the provider but no payment recorded",
        )
    ]


MONEY_CHECKS = (_money, _refund, _unrecorded)


def _invoices(rows: list[dict], gaps: list[str]) -> list[Violation]:
    """R28: each payment has exactly one invoice, each refund one credit note, and no number is missing."""
    found = [Violation(kind="invoice", subject="sequence", detail=gap) for gap in gaps]
    for row in rows:
        number = row["quote_number"]
        if row["invoices"] != 1:
            found.append(
                Violation(
                    kind="invoice", subject=number, detail=f"{number}: {row['invoices']} invoice(s) for its payment"
                )
            )
        refunds = 1 if row["refunded_at"] is not None else 0
        if row["credit_notes"] != refunds:
            found.append(
                Violation(
                    kind="invoice",
                    subject=number,
                    detail=f"{number}: {row['credit_notes']} credit note(s) for {refunds} refund(s)",
                )
            )
    return found


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


async def _claims_of_stopped_workflows(client: Client, pool: Pool, claims: list[dict]) -> list[Violation]:
    """A hold or reservation of a quote that is open in the store but whose workflow stopped is never let go."""
    numbers = dict.fromkeys(c["quote_number"] for c in claims if c["state"] is not None and c["state"] not in TERMINAL)
    stopped = {n: how for n in numbers if (how := await _how_it_ended(client, n)) is not None}
    if not stopped:
        return []
    async with pool.connection() as conn:  # read again: a quote that ended since the first read let go of its own
        still = await store.holds_and_reservations(conn)
    return [
        Violation(
            kind=c["kind"],
            subject=c["subscription_id"],
            detail=f"{c['subscription_id']} has a {c['kind']} of {c['quote_number']}, whose workflow "
            f"{stopped[c['quote_number']]} (the quote is {c['state'] or 'unknown'})",
        )
        for c in still
        if c["quote_number"] in stopped
    ]


async def _how_it_ended(client: Client, number: str) -> str | None:
    """None while the quote's workflow runs; else how it stopped."""
    return await _how_workflow_ended(client, quote_contract.workflow_id(number))


async def _how_workflow_ended(client: Client, workflow_id: str) -> str | None:
    """None while the workflow's latest run runs; else how it stopped. Describe reads the workflow itself, so it
    needs no visibility and never lags behind it."""
    try:
        status = (await client.get_workflow_handle(workflow_id).describe()).status
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return "was not found"
    if status == WorkflowExecutionStatus.RUNNING:
        return None
    return ENDED.get(status, "is in an unknown state")


async def _calendars(client: Client, open_ids: list[str]) -> list[Violation]:
    """Each open subscription's calendar runs. Visibility lists the running ones in one query, but it lags: a
    calendar that continued as new a moment ago may not be listed yet, so each one missing is asked itself."""
    running = set()
    query = f'WorkflowType = "{calendar.WORKFLOW}" AND ExecutionStatus = "Running"'
    async for execution in client.list_workflows(query):
        running.add(execution.id)
    missing = [sub_id for sub_id in open_ids if calendar.workflow_id(sub_id) not in running]
    ended = {
        sub_id: how for sub_id in missing if (how := await _how_workflow_ended(client, calendar.workflow_id(sub_id)))
    }
    return [
        Violation(kind="calendar", subject=sub_id, detail=f"{sub_id} is open but its calendar {how}")
        for sub_id, how in ended.items()
    ]
