"""Which subscriptions a buyer may renew through a self-service quote (R01, R10)."""

from datetime import date, timedelta

from pydantic import BaseModel

from domain.models import Offering, Subscription

WINDOW_OPENS_BEFORE = timedelta(days=90)
WINDOW_CLOSES_AFTER = timedelta(days=45)


class Eligibility(BaseModel):
    eligible: bool
    rule: str | None = None
    reason: str | None = None


def window_opens(end_date: date) -> date:
    return end_date - WINDOW_OPENS_BEFORE


def window_closes(end_date: date) -> date:
    return end_date + WINDOW_CLOSES_AFTER


def in_window(end_date: date, today: date) -> bool:
    """R01: from 90 days before the end date until 45 days after it, both days included."""
    return window_opens(end_date) <= today <= window_closes(end_date)


def eligibility(subscription: Subscription, today: date) -> Eligibility:
    if subscription.offering is Offering.SUCCESS_PLAN:
        return _not("R10", "success plans cannot be renewed in self-service")
    if subscription.offering is Offering.VALUE_BASED:
        return _not("R10", "value-based purchases cannot be renewed in self-service")
    if today < window_opens(subscription.end_date):
        return _not("R01", f"window opens {window_opens(subscription.end_date).isoformat()}")
    if today > window_closes(subscription.end_date):
        return _not("R01", f"window closed {window_closes(subscription.end_date).isoformat()}")
    return Eligibility(eligible=True)


def _not(rule: str, message: str) -> Eligibility:
    return Eligibility(eligible=False, rule=rule, reason=f"{rule}: {message}")
