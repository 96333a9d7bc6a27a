"""The JSON of a quote, a subscription and a renewal group, as the command line's `--json`, the HTTP API and
the webhooks all give them (docs/cli.md, docs/api.md): one model each, which the API's OpenAPI shows too.
Amounts are decimal strings and moments ISO 8601, exactly as written here."""

from datetime import date
from typing import Any

from pydantic import BaseModel

from domain.eligibility import eligibility
from domain.grouping import RenewalGroup
from domain.models import Subscription


class QuoteLineJson(BaseModel):
    subscription_id: str | None
    product: str
    seats: int
    term: str
    unit_price: str | None
    amount: str | None
    discount: str | None
    promotion: str | None


class TaxJson(BaseModel):
    rate: str  # percent
    base: str
    amount: str
    note: str | None


class AnswerJson(BaseModel):
    kind: str  # changes_requested | declined
    reason: str | None  # a decline's: price, not-needed, other-supplier, wrong-details, other
    message: str
    by: str | None
    at: str


class QuoteJson(BaseModel):
    """A quote; `cancelled_by` and `cancel_reason` only on a cancelled one, `transfer_reference` only on one to
    be paid by bank transfer (built by `Quote.json_view`)."""

    number: str
    state: str
    kind: str
    origin: str
    csn: str
    currency: str
    expires_at: str | None
    recipients: list[str]
    lines: list[QuoteLineJson]
    subtotal: str | None
    discount_total: str | None
    total: str | None  # before tax (R15)
    tax: list[TaxJson] = []  # R28: per rate, with "VAT reverse charge" or "outside the scope of EU VAT" at 0%
    tax_total: str | None = None
    total_including_tax: str | None = None  # what the buyer pays
    sent_at: str | None
    accepted_at: str | None
    paid_at: str | None
    payment_reference: str | None
    payment: str | None  # "pending" while a payment's outcome is being confirmed (R20)
    payment_action_url: str | None = None  # only while the buyer must confirm it with their bank (3-D Secure)
    transfer_reference: str | None = None  # R29: the RF reference a bank transfer for it carries, once chosen
    purchase_order: str | None = None  # R27: the buyer's purchase order number, once given
    new_partner_csn: str | None = None  # R25: the partner the subscriptions belong to once it is paid
    from_currency: str | None = None  # R25: the subscriptions' currency, when the quote changes it
    start_date: str | None = None  # R25: a new purchase that starts later than its payment
    cloned_from: str | None = None  # the ended quote this one was cloned from
    answers: list[AnswerJson] | None = None  # R26: the buyer's requests for changes and declines, once any
    reminded: list[int]  # R22: the days before expiry its recipients were reminded on
    revises: str | None  # R23: the quote this one revises
    revised_by: str | None  # R23: the revision that replaced this one, once sent
    cancelled_by: str | None = None
    cancel_reason: str | None = None


class SubscriptionJson(BaseModel):
    id: str
    csn: str
    product: str
    seats: int
    term: str
    currency: str
    purchase_method: str
    partner_csn: str | None
    start_date: str
    end_date: str
    auto_renew: bool
    auto_renew_held_by: list[str]
    eligible: bool
    reason: str | None


class GroupJson(BaseModel):
    key: str
    csn: str
    currency: str
    purchase_method: str
    partner_csn: str | None
    subscriptions: list[SubscriptionJson]


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


def group_json(group: RenewalGroup, today: date, holds: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """`holds`: the quotes holding each subscription's auto-renew, as `subscription_json` shows them."""
    holds = holds or {}
    return {
        "key": group.key,
        "csn": group.csn,
        "currency": group.currency,
        "purchase_method": group.purchase_method.value,
        "partner_csn": group.partner_csn,
        "subscriptions": [subscription_json(s, today, holds.get(s.id)) for s in group.subscriptions],
    }


class InvoiceJson(BaseModel):
    """R28: an invoice or credit note as issued (built by `Invoice.json_view`)."""

    number: str
    kind: str  # invoice | credit_note
    quote: str
    refers_to: str | None
    issued_at: str
    currency: str
    seller: dict[str, Any]
    buyer: dict[str, Any]
    lines: list[dict[str, Any]]
    tax: list[TaxJson]
    total_net: str
    tax_total: str
    total: str
    payment_reference: str | None
    purchase_order: str | None
