"""What a quote's decisions ask the world to do (the effects), and what the world answers (the replies).
QuoteWorkflow runs each effect as an activity, in order; an effect that asks (`Reply`) has its answer fed
back to the aggregate (domain/quote_aggregate.py), which decides what comes next."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain.calendar_aggregate import Owner, TermRefusal
from domain.models import QuoteKind, Term
from domain.quotes import Quote, QuoteLine
from domain.tax import TaxLine

# The steps backend systems hear of by webhook (`quote.<step>`).
ANNOUNCED = ("sent", "accepted", "paid", "expired", "cancelled", "reminded", "changes_requested", "declined")
# Steps that are written and shown in the quote's events but not announced: "extended", "resent".
# `transfer`: the IBAN and RF reference of a quote the buyer chose to pay by bank transfer (R29).
EmailPurpose = Literal["quote", "paid", "superseded", "reminder", "pay_reminder", "transfer"]


class TermRef(BaseModel):
    """A subscription term a payment reserves: one per line that renews an existing subscription."""

    subscription_id: str
    term_end: date


class TermRenewal(TermRef):
    to_end_date: date
    seats: int
    term: Term
    partner_csn: str | None = None  # R25: the partner the subscription belongs to from this renewal on
    currency: str | None = None  # R25: the currency it is billed in from this renewal on


class Step(BaseModel):
    """A step of the quote, as the quote was when it was taken."""

    event: str
    quote: Quote


# Effects that change the world and answer nothing but done (retried through outages until they are).
class Save(BaseModel):
    """One write of the quote with the steps taken since the last (the last is the quote written), then
    each announced step's webhook."""

    kind: Literal["save"] = "save"
    steps: list[Step]
    detail: dict = {}


class Attach(BaseModel):
    """The quote is pending on these subscriptions; with `hold`, their auto-renew is off (R02, R17)."""

    kind: Literal["attach"] = "attach"
    subscriptions: list[str]
    hold: bool


class Detach(BaseModel):
    """The quote no longer holds these subscriptions (R03)."""

    kind: Literal["detach"] = "detach"
    subscriptions: list[str]


class Release(BaseModel):
    """The terms this quote reserved are open again; done only once each calendar let go (R16)."""

    kind: Literal["release"] = "release"
    terms: list[TermRef]


class TellMaker(BaseModel):
    """R26: the buyer's answer number `answer` (1-based) emailed to the quote's maker, partner or sales, in the
    background: an outage never blocks the next step."""

    kind: Literal["tell_maker"] = "tell_maker"
    quote: Quote
    answer: int


class Email(BaseModel):
    """Every recipient's email of one purpose, in the background: an outage never blocks the next step."""

    kind: Literal["email"] = "email"
    purpose: EmailPurpose
    quote: Quote
    days_left: int | None = None
    to: list[str] | None = None  # some recipients only (a resend); None: every recipient
    resend: int | None = None  # the quote's n-th resend: a message of its own per recipient


class Pause(BaseModel):
    """Wait before asking again (a provider that cannot say yet whether it charged)."""

    kind: Literal["pause"] = "pause"
    seconds: int


# Effects that ask: the reply is fed back to the aggregate.
class Price(BaseModel):
    kind: Literal["price"] = "price"
    currency: str
    quote_kind: QuoteKind
    lines: list[QuoteLine]
    on: date
    csn: str | None = None  # R28: whose tax (country, VAT number) applies


class Reserve(BaseModel):
    """Each term granted to this quote, as long as its customer still owns it (R16, R21)."""

    kind: Literal["reserve"] = "reserve"
    terms: list[TermRef]
    owner: Owner
    hold: bool = False  # an accepted quote holds auto-renew with its reservation (R17)


class Charge(BaseModel):
    """Once per quote (idempotency key quote-<number>): a card's token, or an offline payment's reference."""

    kind: Literal["charge"] = "charge"
    amount: Decimal
    currency: str
    payment_method: str | None = None
    reference: str | None = None
    by: str | None = None


class Find(BaseModel):
    """R20: whether the charge under the quote's key was taken, asked of the provider."""

    kind: Literal["find"] = "find"
    amount: Decimal
    currency: str


class Refund(BaseModel):
    """The charge under the quote's key goes back, once; done when the provider confirms it. `key_only`: only
    a card charge under the key (a late one), never an offline payment recorded for the quote."""

    kind: Literal["refund"] = "refund"
    key_only: bool = False


class Renew(BaseModel):
    """The reserved terms renewed at their calendars and recorded in the store, all or none."""

    kind: Literal["renew"] = "renew"
    renewals: list[TermRenewal]


class CreateSubscriptions(BaseModel):
    """A paid new purchase's lines become subscriptions (ids fixed by quote and line)."""

    kind: Literal["create_subscriptions"] = "create_subscriptions"
    lines: dict[int, QuoteLine]
    start: date


class ReplaceOriginal(BaseModel):
    """R23: the revision is being sent: the quote it revises is cancelled, unless its buyer accepted it."""

    kind: Literal["replace_original"] = "replace_original"
    original: str


Effect = (
    Save
    | Attach
    | Detach
    | Release
    | Email
    | Pause
    | Price
    | Reserve
    | Charge
    | Find
    | Refund
    | Renew
    | CreateSubscriptions
    | ReplaceOriginal
)
ASKING = (Price, Reserve, Charge, Find, Refund, Renew, CreateSubscriptions, ReplaceOriginal, Pause)


# Replies.
class Priced(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    tax: list[TaxLine] = []  # R28


class PriceMissing(BaseModel):
    reason: str


class Reserved(BaseModel):
    """Every term granted (`refused` empty), or the refusals."""

    refused: list[TermRefusal] = []


class Charged(BaseModel):
    """The provider's answer to a charge: `charged` (the reference), `declined` (nothing charged, the
    buyer's message), `refunded` (the key's earlier charge was refunded), or `unknown` (not said)."""

    outcome: Literal["charged", "declined", "refunded", "unknown"]
    reference: str | None = None
    message: str = ""
    action_url: str | None = None  # unknown until the buyer authenticates there (3-D Secure)


class Found(BaseModel):
    """What the provider says of the quote's key: charged (the reference), not charged, or not yet known."""

    charged: bool | None
    reference: str | None = None


class Refunded(BaseModel):
    """The provider returned the charge (`refunded`), had none to return, or the payment was offline
    (`offline`: money a person returns)."""

    refunded: bool
    offline: bool = False


class RenewedTerms(BaseModel):
    renewed: dict[str, date] = {}
    not_renewed: dict[str, str] = {}


class Created(BaseModel):
    subscriptions: dict[str, date]


class Replaced(BaseModel):
    """The original was cancelled (or had ended by this revision), or why it was not (R23)."""

    replaced: bool
    reason: str | None = None


class Paused(BaseModel):
    pass


Reply = Priced | PriceMissing | Reserved | Charged | Found | Refunded | RenewedTerms | Created | Replaced | Paused
