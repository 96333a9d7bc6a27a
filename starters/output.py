"""How results reach people (tables) and programs (`--json`), and how refusals are reported."""

import json
import sys
from typing import Any

import click
from tabulate import tabulate

from domain.errors import BadInput, Refused, Stopped
from domain.money import format_money
from domain.quotes import QuoteState
from services.subscriptions import AutoQuoteMade, LoadReport


def subscriptions_table(rows: list[dict[str, Any]]) -> str:
    return tabulate(
        [
            [
                r["id"],
                r["product"],
                r["seats"],
                r["term"],
                r["currency"],
                (r["partner_csn"] and f"partner {r['partner_csn']}") or "direct",
                r["end_date"],
                f"held by {', '.join(r['auto_renew_held_by'])}"
                if r["auto_renew_held_by"]
                else ("on" if r["auto_renew"] else "off"),
                "yes" if r["eligible"] else f"no ({r['reason']})",
            ]
            for r in rows
        ],
        headers=["ID", "PRODUCT", "SEATS", "TERM", "CUR", "BOUGHT", "ENDS", "AUTO-RENEW", "ELIGIBLE"],
    )


def groups_text(groups: list[dict[str, Any]]) -> str:
    if not groups:
        return "no subscriptions eligible for a renewal quote"
    parts = []
    for g in groups:
        via = f"partner {g['partner_csn']}" if g["partner_csn"] else "direct"
        parts.append(f"group {g['key']}: {g['currency']}, {via}, {len(g['subscriptions'])} subscription(s)")
        parts.append(
            tabulate(
                [[s["id"], s["product"], s["seats"], s["term"], s["end_date"]] for s in g["subscriptions"]],
                headers=["ID", "PRODUCT", "SEATS", "TERM", "ENDS"],
            )
        )
        parts.append("")
    return "\n".join(parts).rstrip()


def emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def report_error(err: Refused | BadInput, as_json: bool) -> None:
    """Refusals on stderr as `refused (Rnn): ...`; with --json as an error object on stdout."""
    if isinstance(err, Refused):
        payload: dict[str, object] = {"rule": err.rule, "message": err.message}
        line = str(err)
    else:
        payload = {"rule": None, "message": err.message, "details": err.details}
        line = "\n".join([f"error: {err.message}", *(f"  {d}" for d in err.details)])
    if as_json:
        click.echo(json.dumps({"error": payload}, indent=2))
    else:
        click.echo(line, err=True)
    sys.exit(2)


def report_stopped(err: Stopped, as_json: bool) -> None:
    """Not a refusal: the system could not do it (`renewals ops stuck` says more); exit status 1."""
    if as_json:
        click.echo(json.dumps({"error": {"rule": None, "message": err.message, "stopped": True}}, indent=2))
    else:
        click.echo(f"error: {err.message}", err=True)
    sys.exit(1)


def quote_text(quote) -> str:
    money = lambda amount: format_money(amount, quote.currency) if amount is not None else "-"  # noqa: E731
    via = f"partner {quote.partner_csn}" if quote.partner_csn else "direct"
    head = [
        f"Quote {quote.number} · {quote.state.value} · {quote.kind.value} · {quote.origin.value}",
        f"customer    {quote.customer_name} ({quote.csn}) · {quote.currency} · {via}",
        f"address     {quote.address}",
        f"recipients  {', '.join(quote.all_recipients)}",
        f"expires     {quote.expires_at.strftime('%Y-%m-%d %H:%M UTC') if quote.expires_at else 'when sent + 30 days'}",
    ]
    if quote.pricing_error:
        head.append(f"NOT PRICED  {quote.pricing_error}")
    if quote.revises:
        head.append(f"revises     {quote.revises} (R23)")
    if quote.revised_by:
        head.append(f"revised by  {quote.revised_by} (R23)")
    if quote.state is QuoteState.CANCELLED:
        head.append(
            f"cancelled   by {quote.cancelled_by or '-'}{f': {quote.cancel_reason}' if quote.cancel_reason else ''}"
        )
    if quote.new_partner_csn:
        head.append(f"partner     moves to {quote.new_partner_csn} once paid (R25)")
    if quote.from_currency:
        head.append(f"currency    {quote.from_currency} → {quote.currency} once paid (R25)")
    if quote.start_date:
        head.append(f"starts      {quote.start_date.isoformat()} (R25)")
    if quote.purchase_order:
        head.append(f"PO number   {quote.purchase_order} (R27)")
    for answer in quote.answers:  # R26: the buyer's answers, oldest first
        said = "asks for changes" if answer.kind == "changes_requested" else f"declines ({answer.reason})"
        who = answer.by or "the buyer"
        head.append(f"answer      {answer.at.strftime('%Y-%m-%d %H:%M UTC')} · {who} {said} (R26): {answer.message}")
    if quote.state is QuoteState.PAID and quote.paid_at:
        head.append(f"paid        {quote.paid_at.strftime('%Y-%m-%d %H:%M UTC')} · reference {quote.payment_reference}")
    elif quote.payment == "pending":
        head.append("payment     pending: being confirmed with the provider; no other payment until it is known (R20)")
    elif quote.awaits_transfer:
        head.append(f"payment     by bank transfer, reference {quote.transfer_reference} (R29)")
    if quote.reminded:
        head.append(
            f"reminded    {', '.join(f'{days} days' if days > 1 else '1 day' for days in quote.reminded)} before expiry (R22)"
        )
    if not quote.state.terminal and (quote.pause_auto_renew or quote.holds_auto_renew):
        head.append("auto-renew  held while this quote is pending (R02)")
    lines = tabulate(
        [
            [
                line.subscription_id or "new",
                line.product,
                line.seats
                if line.seats == line.current_seats or line.current_seats is None
                else f"{line.current_seats} → {line.seats}",
                line.term.value
                if line.term == line.current_term or line.current_term is None
                else f"{line.current_term.value} → {line.term.value}",
                line.new_end_date.isoformat() if line.new_end_date else "",
                money(line.unit_price),
                money(line.amount),
                line.promotion or "",
                f"-{money(line.discount)}" if line.promotion else "",
            ]
            for line in quote.lines
        ],
        headers=["SUBSCRIPTION", "PRODUCT", "SEATS", "TERM", "UNTIL", "UNIT PRICE", "AMOUNT", "PROMOTION", "DISCOUNT"],
        colalign=("left", "left", "right", "left", "left", "right", "right", "left", "right"),
    )
    totals = [
        f"subtotal    {money(quote.subtotal)}",
        f"discounts   -{money(quote.discount_total)}",
        f"total       {money(quote.total)}" + (" before tax" if quote.tax else ""),
    ]
    if quote.tax:  # R28
        totals += [f"tax         {money(t.amount)} · {t.label} on {money(t.base)}" for t in quote.tax]
        totals.append(f"to pay      {money(quote.amount_due)} including tax")
    return "\n".join([*head, "", lines, "", *totals])


def quotes_table(quotes) -> str:
    if not quotes:
        return "no quotes"
    return tabulate(
        [
            [
                q.number,
                q.state.value,
                q.csn,
                q.origin.value,
                len(q.lines),
                format_money(q.total, q.currency),
                q.expires_at.strftime("%Y-%m-%d") if q.expires_at else "",
            ]
            for q in quotes
        ],
        headers=["NUMBER", "STATE", "CSN", "ORIGIN", "LINES", "TOTAL", "EXPIRES"],
        colalign=("left", "left", "left", "left", "right", "right", "left"),
    )


# Each subscription of a load's file is counted once: new, changed, unchanged or kept.
KEPT = " (renewed here since the file's export; each keeps its stored term, R18)"


def load_json(report: LoadReport) -> dict[str, Any]:
    """`renewals load --json`: the counts per table, then what the load set in motion (docs/cli.md, the data file)."""
    result, tonight = report.result, report.tonight
    return {
        **result.counts,
        "kept": [row.model_dump() for row in result.kept],
        "calendars": {"started": report.started, "told": report.told},
        "auto_quotes": [made.model_dump() for made in report.auto_quotes],
        "renewals_tonight": {
            "at": tonight.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subscriptions": tonight.renewing,
            "held": tonight.held,
        },
        "unanswered": report.unanswered,
        **({"warnings": result.warnings} if result.warnings else {}),
    }


def load_text(report: LoadReport) -> str:
    """The load's summary, a label column then its line, as the kept rows have always been shown."""
    result, tonight = report.result, report.tonight
    lines = [
        (table, ", ".join(f"{n} {outcome}{KEPT if outcome == 'kept' and n else ''}" for outcome, n in c.items()))
        for table, c in result.counts.items()
    ]
    lines += [
        ("kept", f"{row.id}: {row.reason}{'; its other fields updated from the file' if row.changed else ''}")
        for row in result.kept
    ]
    lines.append(("calendars", f"{report.started} started, {report.told} told"))
    lines.append(("auto quotes", _auto_quotes_count(report.auto_quotes)))
    lines += [("auto quote", _auto_quote(made)) for made in report.auto_quotes]
    when = f"at 00:00 UTC on {tonight.at.date().isoformat()}"
    renewing = f": {', '.join(tonight.renewing)}" if tonight.renewing else ""
    lines.append(("renewals", f"{len(tonight.renewing)} auto-renew tonight, {when}{renewing}"))
    lines += [
        ("held", f"{sub_id}: its auto-renewal tonight is held by {', '.join(quotes)} (R02)")
        for sub_id, quotes in tonight.held.items()
    ]
    if report.unanswered:
        lines.append(
            (
                "not answered",
                f"{', '.join(report.unanswered)}: told, but no answer in time (is a worker running?); "
                "an auto quote they make is not listed here",
            )
        )
    lines += [("warning", warning) for warning in result.warnings]
    return "\n".join(f"{label:<14} {text}" for label, text in lines)


def _auto_quotes_count(made: list[AutoQuoteMade]) -> str:
    sent = sum(m.sent is True for m in made)
    text = f"{sent} created and emailed (R12)"
    if not_sent := sum(m.sent is False for m in made):
        text += f", {not_sent} not sent"
    if unknown := sum(m.sent is None for m in made):
        text += f", {unknown} being sent"
    return text


def _auto_quote(made: AutoQuoteMade) -> str:
    number = made.number or "(none)"
    if made.sent:
        return f"{number} for {made.subscription_id}: emailed to {', '.join(made.recipients)}"
    if made.sent is None:
        return f"{number} for {made.subscription_id}: created, being sent"
    return f"{number} for {made.subscription_id}: not sent: {made.reason}"
