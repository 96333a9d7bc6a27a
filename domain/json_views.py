"""The JSON of a subscription and of a renewal group, as the command line's `--json`, the HTTP API and the
webhooks all give them (a quote's is `Quote.json_view`)."""

from datetime import date
from typing import Any

from domain.eligibility import eligibility
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
