"""A quote as the workflow holds it and every reader sees it (docs/cli.md)."""

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field

from domain.eligibility import window_closes
from domain.errors import Refused
from domain.json_views import QuoteJson, QuoteLineJson
from domain.models import Language, PurchaseMethod, QuoteKind, Subscription, Term, unprintable
from domain.money import format_money, round_money
from domain.tax import NOTES, TaxLine, percent

VALIDITY = timedelta(days=30)


class QuoteState(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (QuoteState.PAID, QuoteState.EXPIRED, QuoteState.CANCELLED)

    @property
    def pending(self) -> bool:
        return not self.terminal


class Origin(StrEnum):
    SELF_SERVICE = "self-service"
    PARTNER = "partner"
    SALES = "sales"
    AUTO = "auto"


class DeclineReason(StrEnum):
    """R26: why a buyer declines a quote, from a short list (the message says the rest)."""

    PRICE = "price"
    NOT_NEEDED = "not-needed"
    OTHER_SUPPLIER = "other-supplier"
    WRONG_DETAILS = "wrong-details"
    OTHER = "other"


class BuyerAnswer(BaseModel):
    """R26: a buyer's answer to a sent or accepted quote; the quote's state does not change."""

    kind: Literal["changes_requested", "declined"]
    reason: DeclineReason | None = None  # a decline's
    message: str
    by: str | None = None
    at: datetime


class QuoteLine(BaseModel):
    """One subscription on the quote: what it is now, and what the quote makes of it."""

    subscription_id: str | None
    product: str
    seats: int = Field(ge=1)
    term: Term
    current_seats: int | None = None
    current_term: Term | None = None
    end_date: date | None = None
    co_term_end_date: date | None = None
    unit_price: Decimal | None = None
    amount: Decimal | None = None
    discount: Decimal = Decimal(0)
    promotion: str | None = None

    @classmethod
    def of(cls, sub: Subscription, **changes) -> "QuoteLine":
        """A line for a subscription as it is now; `changes` are what the quote makes of it."""
        return cls(
            subscription_id=sub.id,
            product=sub.product,
            seats=sub.seats,
            term=sub.term,
            current_seats=sub.seats,
            current_term=sub.term,
            end_date=sub.end_date,
            **changes,
        )

    @property
    def changes_subscription(self) -> bool:
        if self.subscription_id is None:
            return False
        return self.seats != self.current_seats or self.term != self.current_term or self.co_term_end_date is not None

    @property
    def new_end_date(self) -> date | None:
        """A renewal runs one more term; a co-term line runs to the quote's common end date."""
        if self.co_term_end_date:
            return self.co_term_end_date
        return self.term.next_end_date(self.end_date) if self.end_date else None

    @property
    def proration(self) -> tuple[int, int] | None:
        """(days added, days in a full term) for a co-term line."""
        if not (self.co_term_end_date and self.end_date):
            return None
        return (self.co_term_end_date - self.end_date).days, (
            self.term.next_end_date(self.end_date) - self.end_date
        ).days


class Quote(BaseModel):
    number: str
    state: QuoteState = QuoteState.DRAFT
    kind: QuoteKind = QuoteKind.RENEWAL
    origin: Origin
    csn: str
    customer_name: str
    buyer_email: EmailStr
    address: str
    language: Language = "en"  # the customer's: its emails, reminders and PDF are written in it
    currency: str
    purchase_method: PurchaseMethod
    partner_csn: str | None = None
    recipients: list[EmailStr] = []
    lines: list[QuoteLine]
    pause_auto_renew: bool = False
    start_date: date | None = None  # R25: a partner's or sales' new purchase starting later (at most 90 days)
    new_partner_csn: str | None = None  # R25: the partner its subscriptions belong to once it is paid
    from_currency: str | None = None  # R25: the subscriptions' currency, when the quote changes it
    subtotal: Decimal = Decimal(0)
    discount_total: Decimal = Decimal(0)
    total: Decimal = Decimal(0)  # R15: before tax
    tax: list[TaxLine] = []  # R28: per rate
    tax_total: Decimal = Decimal(0)
    pricing_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    accepted_at: datetime | None = None
    paid_at: datetime | None = None
    payment_reference: str | None = None
    # R20: "pending" while a payment's outcome is not yet known (the provider down, its answer lost).
    payment: Literal["pending"] | None = None
    # While pending: where the buyer confirms the payment with their bank (3-D Secure at the provider).
    payment_action_url: str | None = None
    # R29: the buyer chose to pay by bank transfer; the ISO 11649 reference (RF..) the transfer must carry.
    transfer_reference: str | None = None
    purchase_order: str | None = None  # R27: the buyer's purchase order number, given when accepting
    answers: list[BuyerAnswer] = []  # R26: the buyer's requests for changes and declines, oldest first
    resent: int = 0  # how many times partner, sales or ops sent its email again
    cloned_from: str | None = None  # the ended quote this draft was cloned from
    ended_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    superseded_because: str | None = None
    reminded: list[int] = []  # R22: the days before expiry its recipients were reminded on
    revises: str | None = None  # R23: the quote this draft revises; sending it cancels that one
    revised_by: str | None = None  # R23: the revision that replaced this quote when it was sent
    revision: int = 0

    @property
    def holds_auto_renew(self) -> bool:
        """R02: a quote that changes a subscription, or whose requester asks, holds its auto-renew;
        R17: so does an accepted quote, the buyer's commitment."""
        return (
            self.pause_auto_renew
            or self.state is QuoteState.ACCEPTED
            or self.changes_owner
            or any(line.changes_subscription for line in self.lines)
        )

    @property
    def changes_owner(self) -> bool:
        """R25: paid, its subscriptions move to another partner, or to another currency (R02: a change)."""
        return self.new_partner_csn is not None or self.from_currency is not None

    @property
    def amount_due(self) -> Decimal:
        """R28: the total including tax, what the buyer pays: the charge, a bank transfer's amount."""
        return self.total + self.tax_total

    @property
    def awaits_transfer(self) -> bool:
        """R29: accepted, to be paid by a bank transfer that has not been recorded yet."""
        return self.transfer_reference is not None and self.state is QuoteState.ACCEPTED

    @property
    def renewal_lines(self) -> list[QuoteLine]:
        """The lines that renew an existing subscription's term (not new purchases)."""
        return [line for line in self.lines if line.subscription_id and line.end_date]

    def ended_refusal(self, action: str) -> tuple[str, str]:
        """(rule, message) for any action on an ended quote; a revised one names its revision (R23), a
        superseded one what renewed it (R16)."""
        if self.revised_by:
            return "R23", f"quote {self.number} was revised by {self.revised_by}; it can no longer be {action}"
        if self.superseded_because:
            return "R16", f"{self.superseded_because}; this quote can no longer be {action}"
        return "lifecycle", f"quote {self.number} is {self.state.value}; it can no longer be {action}"

    @property
    def all_recipients(self) -> list[str]:
        return [self.buyer_email, *self.recipients]

    def expiry_for(self, sent_at: datetime) -> datetime:
        """R15: 30 days from sending, never past the R01 window close of the earliest-ending line."""
        latest = self.latest_expiry()
        return min(sent_at + VALIDITY, latest) if latest else sent_at + VALIDITY

    def latest_expiry(self) -> datetime | None:
        """R15: the end of the R01 window close of its earliest-ending line; None for a new purchase."""
        ends = [line.end_date for line in self.lines if line.end_date]
        if not ends:
            return None
        return datetime.combine(window_closes(min(ends)) + timedelta(days=1), time(0), tzinfo=UTC)

    def details(self) -> str:
        """`Q-000123 · sent · EUR 2,030.00 · expires 2026-12-30`: a Temporal UI row that reads without opening it."""
        parts = [self.number, self.state.value, format_money(self.amount_due, self.currency)]
        if self.pricing_error:
            parts.append(f"cannot be priced: {self.pricing_error}")
        if self.payment:
            parts.append(f"payment {self.payment}")
        if self.awaits_transfer:
            parts.append(f"awaiting bank transfer {self.transfer_reference}")
        if self.expires_at and not self.state.terminal:
            parts.append(f"expires {self.expires_at.date().isoformat()}")
        if self.new_partner_csn:
            parts.append(f"to partner {self.new_partner_csn}")
        if self.answers and not self.state.terminal:  # R26: the buyer's last word, never their own text (the
            last = self.answers[-1]  # UI renders details as Markdown: `quote show` and the API show the message)
            parts.append(
                "buyer asks for changes" if last.kind == "changes_requested" else f"buyer declines ({last.reason})"
            )
        if self.cloned_from:
            parts.append(f"clone of {self.cloned_from}")
        if self.cancel_reason:
            parts.append(self.cancel_reason)
        return " · ".join(parts)

    def json_view(self) -> dict:
        """The quote JSON of the command line, the API and the webhooks (`QuoteJson`)."""
        cancelled = (
            {"cancelled_by": self.cancelled_by, "cancel_reason": self.cancel_reason}
            if self.state is QuoteState.CANCELLED
            else {}
        )
        # R29: only once the buyer chose to pay by bank transfer.
        transfer = {"transfer_reference": self.transfer_reference} if self.transfer_reference else {}
        # While the buyer must confirm the payment with their bank (3-D Secure): where they do it.
        action = {"payment_action_url": self.payment_action_url} if self.payment_action_url else {}
        purchase_order = {"purchase_order": self.purchase_order} if self.purchase_order else {}
        answers = {"answers": [answer_json(a) for a in self.answers]} if self.answers else {}
        cloned = {"cloned_from": self.cloned_from} if self.cloned_from else {}
        # R25: only on a quote that changes them.
        moves = {
            key: value
            for key, value in {
                "new_partner_csn": self.new_partner_csn,
                "from_currency": self.from_currency,
                "start_date": self.start_date.isoformat() if self.start_date else None,
            }.items()
            if value
        }
        view = QuoteJson(
            number=self.number,
            state=self.state.value,
            kind=self.kind.value,
            origin=self.origin.value,
            csn=self.csn,
            currency=self.currency,
            expires_at=_moment(self.expires_at),
            recipients=self.all_recipients,
            lines=[
                QuoteLineJson(
                    subscription_id=line.subscription_id,
                    product=line.product,
                    seats=line.seats,
                    term=line.term.value,
                    unit_price=_money(line.unit_price),
                    amount=_money(line.amount),
                    discount=_money(line.discount),
                    promotion=line.promotion,
                )
                for line in self.lines
            ],
            subtotal=_money(self.subtotal),
            discount_total=_money(self.discount_total),
            total=_money(self.total),
            tax=[
                {
                    "rate": percent(t.rate),
                    "base": str(t.base),
                    "amount": str(t.amount),
                    "note": NOTES[t.note] if t.note else None,
                }
                for t in self.tax
            ],
            tax_total=_money(round_money(self.tax_total, self.currency)),
            total_including_tax=_money(round_money(self.amount_due, self.currency)),
            sent_at=_moment(self.sent_at),
            accepted_at=_moment(self.accepted_at),
            paid_at=_moment(self.paid_at),
            payment_reference=self.payment_reference,
            payment=self.payment,
            reminded=self.reminded,
            revises=self.revises,
            revised_by=self.revised_by,
            **cancelled,
            **transfer,
            **action,
            **purchase_order,
            **answers,
            **moves,
            **cloned,
        )
        return view.model_dump(exclude_unset=True)


def answer_json(answer: BuyerAnswer) -> dict:
    return {
        "kind": answer.kind,
        "reason": answer.reason.value if answer.reason else None,
        "message": answer.message,
        "by": answer.by,
        "at": answer.at.isoformat(),
    }


# R26: a buyer's message, as a form's text area gives it: lines of printable text.
ANSWER_MAX = 2000
ANSWERS_MAX = 20  # per quote: a buyer who needs more talks to the partner or sales


def check_answer_message(text: str) -> str:
    """R26: a message is needed, at most 2,000 characters of printable text (line breaks allowed)."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Refused("R26", "say what should change, or why you decline: the message is empty")
    if len(text) > ANSWER_MAX:
        raise Refused("R26", f"a message has at most {ANSWER_MAX} characters; {len(text)} given")
    bad = next((what for c in text if c not in "\n\t" and (what := unprintable(c))), None)
    if bad is not None:
        raise Refused("R26", f"a message holds printable text only, not {bad}")
    return text


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def quote_number(sequence_value: int) -> str:
    return f"Q-{sequence_value:06d}"


_QUOTE_NUMBER = re.compile(r"Q-[0-9]{6,12}")
# A payment reference as a bank or provider writes it: printable, one line.
PaymentReference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


# R27: a purchase order number as procurement systems write them: at most 35 printable characters (the
# length of an EDIFACT/UBL order reference), one line, no control or bidirectional characters.
PURCHASE_ORDER_MAX = 35


def check_purchase_order(text: str | None) -> str | None:
    """R27: the buyer's purchase order number, trimmed; empty is none. Anything else is refused naming R27."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > PURCHASE_ORDER_MAX:
        raise Refused("R27", f"a purchase order number has at most {PURCHASE_ORDER_MAX} characters; {len(text)} given")
    bad = next((what for what in map(unprintable, text) if what), None)
    if bad is not None:
        raise Refused("R27", f"a purchase order number holds printable characters only, not {bad}")
    return text


def is_quote_number(text: str) -> bool:
    """`Q-` and six or more digits: anything else names no quote, and never reaches Temporal or the store."""
    return _QUOTE_NUMBER.fullmatch(text) is not None


def quote_workflow_id(number: str) -> str:
    return f"quote-{number}"


def subscription_workflow_id(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"
