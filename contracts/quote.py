"""QuoteWorkflow's contract: its type and id, what it takes and gives, and the names of its messages.
Services start and update quotes through this module, calendars signal them through it, and the
workflow itself implements it (workflows/quote.py)."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributePair

from contracts.search_attributes import (
    CUSTOMER_CSN,
    QUOTE_CURRENCY,
    QUOTE_EXPIRES_AT,
    QUOTE_ORIGIN,
    QUOTE_STATE,
    QUOTE_TOTAL,
)
from domain.quote_rules import DraftEdit
from domain.quotes import (
    ANSWER_MAX,
    PURCHASE_ORDER_MAX,
    DeclineReason,
    PaymentReference,
    Quote,
    QuoteState,
    quote_workflow_id,
)

WORKFLOW = "QuoteWorkflow"
workflow_id = quote_workflow_id

# Updates: each returns the quote as it is after the change.
PRICED = "priced"
SEND = "send"
ACCEPT = "accept"
PAY = "pay"
CANCEL = "cancel"
ANSWER = "answer"  # R26: the buyer asks for changes or declines; the quote's state stays
EXTEND = "extend"  # partner, sales or ops: a later expiry, never past the window close (R15)
RESEND = "resend"  # partner, sales or ops: the quote's email again, to all or some recipients
EDIT = "edit"
# R23: a revision being sent asks its original to step aside (returns domain.quote_effects.Replaced).
REPLACE = "replace"
# Query: the quote now. Signal: a calendar renewed a term of this quote another way.
STATE = "state"
SUPERSEDE = "supersede"
# Signal: the provider says a payment of this quote was decided (a Stripe webhook): a pending payment asks it
# now instead of at its next look (R20). Idempotent: one more look changes nothing.
CHECK_PAYMENT = "check_payment"


# How long a buyer waits for a payment before hearing it is being confirmed (R20).
PAYMENT_WAIT = timedelta(seconds=20)
# R22: reminders this many days before a sent or accepted quote expires (QUOTE_REMINDER_DAYS).
REMINDER_DAYS = (7, 1)


class QuoteInput(BaseModel):
    """The quote as built and checked by the service, the webhook receivers it announces its steps to, how
    long its buyer waits for a payment before hearing it is pending, the days before expiry it reminds its
    recipients on (R22), and whether it sends itself once priced (no update: one call starts and sends it)."""

    quote: Quote
    webhooks: list[str] = []
    payment_wait: timedelta = PAYMENT_WAIT
    reminder_days: tuple[int, ...] = REMINDER_DAYS
    send: bool = False  # sent by the workflow itself once priced: an auto quote (R12) is made in one step


class QuoteResult(BaseModel):
    number: str
    state: QuoteState
    renewed: dict[str, str] = {}


class PricedInput(BaseModel):
    pass


# Who asked, where it is known: `api:<key name>` for the backend API; recorded on the quote's events and
# on an offline payment.
Actor = Annotated[str, Field(max_length=100)] | None


class SendInput(BaseModel):
    by: Actor = None


class PayInput(BaseModel):
    """A card's payment-method token from the gateway, or the reference of an offline payment; a bank
    transfer (R29) also gives what arrived, which must be the total."""

    payment_reference: PaymentReference | None = None
    payment_method: Annotated[str, Field(max_length=200)] | None = None
    by: Actor = None
    amount: Decimal | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    received_on: date | None = None


class AcceptInput(PayInput):
    pay: bool = False
    bank_transfer: bool = False  # R29: accepted, to be paid by bank transfer with the quote's RF reference
    purchase_order: Annotated[str, Field(max_length=PURCHASE_ORDER_MAX)] | None = None  # R27, checked before


class AnswerInput(BaseModel):
    """R26: `changes_requested` with a message, or `declined` with a reason and a message; checked by the
    aggregate (domain/quote_lifecycle.py check_answer)."""

    kind: Literal["changes_requested", "declined"]
    message: Annotated[str, Field(max_length=ANSWER_MAX * 2)]
    reason: DeclineReason | None = None
    by: Actor = None


class ExtendInput(BaseModel):
    until: datetime  # the new expiry: the end of the day the caller named, UTC
    by: Actor = None


class ResendInput(BaseModel):
    to: Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=5)] | None = None  # None: everyone
    by: Actor = None


class CancelInput(BaseModel):
    by: Literal["partner", "sales", "buyer"]
    actor: Actor = None


class EditInput(DraftEdit):
    pass


class SupersedeInput(BaseModel):
    """Sent to a pending quote whose term was renewed another way (R16, Lifecycle) or moved owner (R21)."""

    reason: str
    detail: str


class ReplaceInput(BaseModel):
    """R23: the revision that is being sent in place of this quote."""

    revision: str


def search_attributes(quote: Quote) -> list[SearchAttributePair]:
    """The six attributes ops filter by; the starter sets them too, so a new quote lists at once."""
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(QUOTE_STATE, quote.state.value),
        SearchAttributePair(CUSTOMER_CSN, quote.csn),
        SearchAttributePair(QUOTE_CURRENCY, quote.currency),
        SearchAttributePair(QUOTE_ORIGIN, quote.origin.value),
        SearchAttributePair(QUOTE_TOTAL, float(quote.total)),
    ]
    if quote.expires_at:
        pairs.append(SearchAttributePair(QUOTE_EXPIRES_AT, quote.expires_at))
    return pairs
