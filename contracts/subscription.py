"""SubscriptionWorkflow's contract (the calendar of one subscription): its type and id, the state it
carries from term to term, and the names of its messages. Quotes reach it through activities, loads
and the auto-renew switch through services; all of them through this module."""

from datetime import date, datetime

from pydantic import BaseModel
from temporalio.common import Priority

from domain.models import PurchaseMethod, Subscription, Term
from domain.quotes import Quote, subscription_workflow_id

WORKFLOW = "SubscriptionWorkflow"
workflow_id = subscription_workflow_id
# Calendars and their activities run on a task queue of their own beside the quotes' (TEMPORAL_TASK_QUEUE):
# a burst of renewals at midnight never queues a buyer's accept and pay behind it.
CALENDARS = "-calendars"


# Below a quote's default (3): the server hands out a calendar's workflow tasks and activities after any
# quote's that wait (Temporal's task priorities, which the embedded server honours), so a buyer's accept
# and pay is not queued behind a burst of renewals.
PRIORITY = Priority(priority_key=4)


def task_queue(quotes_task_queue: str) -> str:
    """The calendars' task queue for a deployment's quote task queue (given either, the same answer)."""
    return quotes_task_queue if quotes_task_queue.endswith(CALENDARS) else quotes_task_queue + CALENDARS


# Updates from quotes: pending (holding auto-renew or not), ended; and the payment saga (R16).
ATTACH = "attach"
DETACH = "detach"
RESERVE = "reserve"
RELEASE = "release"
RENEW = "renew"
# The buyer's switch (update), a load's new row (signal, sent with start), the state now (query).
SET_AUTO_RENEW = "set_auto_renew"
SOURCE_CHANGED = "source_changed"
STATE = "state"


class Reservation(BaseModel):
    """A term being paid for (R16): nobody else may renew it, and auto-renew waits."""

    holder: str
    term_end: date
    since: datetime


class CalendarState(BaseModel):
    """All a calendar knows, passed whole to its next run (continue-as-new) and given at its start."""

    subscription: Subscription
    # Pending quotes, each with whether it holds auto-renew (R02, R17).
    pending: dict[str, bool] = {}
    # The switch's value before the first hold, to go back to (R03).
    restore_to: bool | None = None
    # Raised by every change, so the store's mirror keeps only the newest.
    version: int = 0
    # Who renewed each recent term (by its end date), and on which day.
    claims: dict[str, str] = {}
    renewed_on: dict[str, date] = {}
    # This term's auto quote (R12): its number, or why it was not sent.
    auto_quote: str | None = None
    reservation: Reservation | None = None
    auto_renew_error: str | None = None

    @property
    def held_by(self) -> list[str]:
        """The pending quotes that hold auto-renew (R02, R17)."""
        return [number for number, hold in self.pending.items() if hold]

    def details(self, upcoming: tuple[str, datetime] | None) -> str:
        """`SUB-1001 · ends 2026-12-19 · auto-renew on · next: auto-renew 2026-12-19`: the UI row."""
        sub = self.subscription
        switch = f"held by {', '.join(self.held_by)}" if self.held_by else ("on" if sub.auto_renew else "off")
        parts = [sub.id, f"ends {sub.end_date.isoformat()}", f"auto-renew {switch}"]
        if self.reservation:
            parts.append(f"being renewed by {self.reservation.holder}")
        if self.auto_renew_error:
            parts.append(f"auto-renew failed: {self.auto_renew_error}")
        if self.auto_quote and self.auto_quote.startswith("not sent"):
            parts.append(f"auto quote {self.auto_quote}")
        if upcoming:
            parts.append(f"next: {upcoming[0]} {upcoming[1].date().isoformat()}")
        return " · ".join(parts)

    def carried(self) -> "CalendarState":
        """The whole state for the next run, with the claims of the six most recent terms."""
        recent = sorted(self.claims)[-6:]
        return self.model_copy(
            update={
                "claims": {k: self.claims[k] for k in recent},
                "renewed_on": {k: self.renewed_on[k] for k in recent if k in self.renewed_on},
            }
        )


class AutoRenewState(BaseModel):
    """What the calendar answers: the switch, the quotes on it, the next event."""

    subscription_id: str
    auto_renew: bool
    held_by: list[str]
    pending: list[str]
    version: int
    end_date: date
    next_event: str | None = None
    reserved_by: str | None = None
    auto_renew_error: str | None = None


class AttachInput(BaseModel):
    quote_number: str
    hold: bool


class DetachInput(BaseModel):
    quote_number: str
    paid: bool = False


class Owner(BaseModel):
    """Whose a subscription is: its customer, and how it was bought (R21: a term is reserved only for a
    quote of its current owner)."""

    csn: str
    purchase_method: PurchaseMethod
    partner_csn: str | None = None

    @classmethod
    def of(cls, holder: Subscription | Quote) -> "Owner":
        """A subscription's owner, or the customer and purchase method a quote is for."""
        return cls(csn=holder.csn, purchase_method=holder.purchase_method, partner_csn=holder.partner_csn)

    def __str__(self) -> str:
        how = f"through partner {self.partner_csn}" if self.partner_csn else self.purchase_method.value
        return f"customer {self.csn} ({how})"


class TermInput(BaseModel):
    """A quote (or auto-renew) asking about the term that ends on `term_end`; a quote says whose it is."""

    holder: str
    term_end: date
    owner: Owner | None = None


class ReserveResult(BaseModel):
    subscription_id: str
    granted: bool
    holder: str | None = None
    rule: str | None = None
    reason: str | None = None
    retry_later: bool = False
    state: AutoRenewState | None = None


class RenewTermInput(TermInput):
    to_end_date: date
    seats: int
    term: Term


class RenewTermResult(BaseModel):
    renewed: bool
    reason: str | None = None
    state: AutoRenewState


class SetAutoRenewInput(BaseModel):
    on: bool


class SourceChangedInput(BaseModel):
    """The subscription's row as `renewals load` left it."""

    subscription: Subscription
