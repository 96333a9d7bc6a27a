"""How results reach people (tables) and programs (`--json`), and how refusals are reported."""

import json
import sys
from datetime import date
from typing import Any

import click
from tabulate import tabulate

from domain.eligibility import eligibility
from domain.errors import BadInput, Refused
from domain.grouping import RenewalGroup
from domain.models import Subscription


def subscription_json(sub: Subscription, today: date, held_by: list[str] | None = None) -> dict[str, Any]:
    verdict = eligibility(sub, today)
    return {
        "id": sub.id,
        "csn": sub.csn,
        "product": sub.product,
        "seats": sub.seats,
        "term": sub.term.value,
        "currency": sub.currency,
        "purchase_method": sub.purchase_method.value,
        "partner_csn": sub.partner_csn,
        "start_date": sub.start_date.isoformat(),
        "end_date": sub.end_date.isoformat(),
        "auto_renew": sub.auto_renew,
        "auto_renew_held_by": held_by or [],
        "eligible": verdict.eligible,
        "reason": verdict.reason,
    }


def group_json(group: RenewalGroup, today: date) -> dict[str, Any]:
    return {
        "key": group.key,
        "csn": group.csn,
        "currency": group.currency,
        "purchase_method": group.purchase_method.value,
        "partner_csn": group.partner_csn,
        "subscriptions": [subscription_json(s, today) for s in group.subscriptions],
    }


def subscriptions_table(rows: list[dict[str, Any]]) -> str:
    return tabulate(
        [
            [
                r["id"], r["product"], r["seats"], r["term"], r["currency"],
                r["partner_csn"] and f"partner {r['partner_csn']}" or "direct",
                r["end_date"], "on" if r["auto_renew"] else "off",
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
        payload = {"rule": err.rule, "message": err.message}
        line = str(err)
    else:
        payload = {"rule": None, "message": err.message, "details": err.details}
        line = "\n".join([f"error: {err.message}", *(f"  {d}" for d in err.details)])
    if as_json:
        click.echo(json.dumps({"error": payload}, indent=2))
    else:
        click.echo(line, err=True)
    sys.exit(2)
