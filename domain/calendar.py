"""A subscription term's calendar (R01, R12): when the window opens, the auto quote, the renewal, the close."""

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from domain.eligibility import WINDOW_CLOSES_AFTER, WINDOW_OPENS_BEFORE
from domain.models import Offering, PurchaseMethod, Subscription, Term

AUTO_QUOTE_BEFORE = timedelta(days=30)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class TermCalendar(BaseModel):
    """Each event at 00:00 UTC of its day; the window closes at the end of its 45th day."""

    window_opens: datetime
    auto_quote: datetime
    renewal_due: datetime
    window_closes: datetime

    @classmethod
    def of(cls, end_date: date) -> "TermCalendar":
        return cls(
            window_opens=midnight(end_date - WINDOW_OPENS_BEFORE),
            auto_quote=midnight(end_date - AUTO_QUOTE_BEFORE),
            renewal_due=midnight(end_date),
            window_closes=midnight(end_date + WINDOW_CLOSES_AFTER + timedelta(days=1)),
        )

    def next_after(self, now: datetime) -> tuple[str, datetime] | None:
        events = [
            ("window opens", self.window_opens),
            ("auto quote", self.auto_quote),
            ("auto-renew", self.renewal_due),
            ("window closes", self.window_closes),
        ]
        return next(((name, at) for name, at in events if at > now), None)


def auto_quote_due(sub: Subscription, now: datetime, pending_quotes: int = 0) -> bool:
    """R12: the term's auto quote is due now (its day has come, its end date not yet) and wanted (a calendar
    makes it once per term)."""
    dates = TermCalendar.of(sub.end_date)
    return dates.auto_quote <= now < dates.renewal_due and auto_quote_wanted(sub, pending_quotes)


def auto_quote_wanted(sub: Subscription, pending_quotes: int) -> bool:
    """R12: annual or 3-year, bought direct, auto-renew off, a standard offering, no pending quote."""
    return (
        sub.term in (Term.ANNUAL, Term.THREE_YEAR)
        and sub.purchase_method is PurchaseMethod.DIRECT
        and not sub.auto_renew
        and sub.offering is Offering.STANDARD
        and pending_quotes == 0
    )
