"""Bulk renewal groups (R05, R08): what may go on one quote together."""

from datetime import date

from pydantic import BaseModel

from domain.eligibility import eligibility
from domain.models import PurchaseMethod, Subscription


class RenewalGroup(BaseModel):
    csn: str
    currency: str
    purchase_method: PurchaseMethod
    partner_csn: str | None
    subscriptions: list[Subscription]

    @property
    def key(self) -> str:
        parts = [self.csn, self.currency, self.purchase_method.value]
        if self.partner_csn:
            parts.append(self.partner_csn)
        return "/".join(parts)


def renewal_groups(subscriptions: list[Subscription], today: date) -> list[RenewalGroup]:
    """Eligible subscriptions by CSN, currency and purchase method; partner purchases also by partner."""
    groups: dict[tuple, RenewalGroup] = {}
    for sub in sorted(subscriptions, key=lambda s: (s.end_date, s.id)):
        if not eligibility(sub, today).eligible:
            continue
        key = (sub.csn, sub.currency, sub.purchase_method, sub.partner_csn)
        group = groups.setdefault(
            key,
            RenewalGroup(
                csn=sub.csn,
                currency=sub.currency,
                purchase_method=sub.purchase_method,
                partner_csn=sub.partner_csn,
                subscriptions=[],
            ),
        )
        group.subscriptions.append(sub)
    return sorted(groups.values(), key=lambda g: g.key)
