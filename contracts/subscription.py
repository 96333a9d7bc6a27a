"""SubscriptionWorkflow's contract (the calendar of one subscription): its type and id, the state it
carries from term to term, and the names of its messages. Quotes reach it through activities, loads
and the auto-renew switch through services; all of them through this module."""

from datetime import date

from pydantic import BaseModel
from temporalio.common import Priority

from domain.calendar_aggregate import Calendar, Owner, Reservation, TermRefusal
from domain.models import Subscription, Term
from domain.quotes import subscription_workflow_id

# All a calendar knows, passed whole to its next run and given at its start: the domain's aggregate.
CalendarState = Calendar
__all__ = ["CalendarState", "Owner", "Reservation", "TermRefusal"]

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
# A load's new row for a calendar whose R12 auto quote it may make due (update, sent with start): answered
# with what taking it set in motion, so `renewals load` can say so.
LOAD = "load"
STATE = "state"
# An auto quote (R12) that could not be sent says so to the calendar that made it (signal).
AUTO_QUOTE_NOT_SENT = "auto_quote_not_sent"


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
    owner: Owner | None = None  # the quote's customer: a former owner's quote is not taken (R21)


class DetachInput(BaseModel):
    quote_number: str


class TermInput(BaseModel):
    """A quote (or auto-renew) asking about the term that ends on `term_end`; a quote says whose it is."""

    holder: str
    term_end: date
    owner: Owner | None = None
    hold: bool = False  # reserve: the holder's accepted quote also holds auto-renew (R17)


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
    partner_csn: str | None = None  # R25: the partner the subscription belongs to from this renewal on
    currency: str | None = None  # R25: its currency from this renewal on


class RenewTermResult(BaseModel):
    renewed: bool
    reason: str | None = None
    retry_later: bool = False  # another holder has the term for now
    state: AutoRenewState


class SetAutoRenewInput(BaseModel):
    on: bool


class SourceChangedInput(BaseModel):
    """The subscription's row as `renewals load` left it; `switch_from_source`: whether its auto-renew switch
    is the source's (False: the load kept the system's, a quote held it then)."""

    subscription: Subscription
    switch_from_source: bool = True


class LoadAnswer(BaseModel):
    """What taking a load's row set in motion: the term's auto quote it made (R12), its number or
    `not sent: why`; None when it made none (not due, made before, or a quote pending)."""

    subscription_id: str
    auto_quote: str | None = None


class AutoQuoteNotSentInput(BaseModel):
    """The term whose auto quote could not be sent, and why (R12: never tried again within the term)."""

    term_end: date
    reason: str
