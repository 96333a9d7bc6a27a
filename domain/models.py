"""The records of the data file (docs/architecture.md) and of the store."""

from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from dateutil.relativedelta import relativedelta
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from domain.money import is_known_currency


class Term(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    THREE_YEAR = "3-year"

    @property
    def length(self) -> relativedelta:
        return {"monthly": relativedelta(months=1), "annual": relativedelta(years=1), "3-year": relativedelta(years=3)}[
            self.value
        ]

    def next_end_date(self, end_date: date) -> date:
        """A renewal starts the day after the current end date and runs one term (R10)."""
        return end_date + timedelta(days=1) + self.length - timedelta(days=1)


class PurchaseMethod(StrEnum):
    DIRECT = "direct"
    PARTNER = "partner"


class Offering(StrEnum):
    STANDARD = "standard"
    SUCCESS_PLAN = "success-plan"
    VALUE_BASED = "value-based"


class QuoteKind(StrEnum):
    RENEWAL = "renewal"
    CO_TERM = "co-term"
    NEW = "new"


def _currency(code: str) -> str:
    if not is_known_currency(code):
        raise ValueError(f"unknown currency {code!r} (an ISO 4217 code such as EUR or JPY)")
    return code


# Characters that break a line or turn text around where it is shown: C0 and C1 controls (NEL, U+0085, among
# them), the line and paragraph separators, and the bidirectional embeddings, overrides and isolates. A name
# holding one would break an email's Subject line or show a buyer text that reads otherwise than it is.
_LINE_BREAKING = {0x2028: "a line separator", 0x2029: "a paragraph separator", 0x85: "a line break (NEL)"}
_BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def unprintable(c: str) -> str | None:
    code = ord(c)
    if code in _LINE_BREAKING:
        return _LINE_BREAKING[code]
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if code in _BIDI_CONTROLS:
        return "a bidirectional text control"
    return None


def _printable(text: str) -> str:
    for c in text:
        what = unprintable(c)
        if what is not None:
            raise ValueError(f"contains {what} (U+{ord(c):04X}); only printable text is allowed")
    return text


# The days a subscription or a promotion may name: anything outside is refused with its field, so the date
# arithmetic on them (the R01 window, the R12 auto quote, a next term: a few years at most either way) stays
# far inside the years 1-9999 that Python's dates hold.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2200, 12, 31)


def _in_date_range(day: date) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(
            f"{day.isoformat()} is outside {EARLIEST_DATE.isoformat()}..{LATEST_DATE.isoformat()}, the dates accepted"
        )
    return day


# The bounds every number and text has at the edge (data file, command line): anything larger is
# refused with the field named, before it can reach a workflow, a price or a column.
MAX_SEATS = 1_000_000
MAX_UNIT_PRICE = Decimal("100000000")
MAX_LINES = 100

Currency = Annotated[str, AfterValidator(_currency)]
Csn = Annotated[str, Field(pattern=r"^[0-9]{4,16}$", description="customer serial number: digits")]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Address = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_printable)]
SubscriptionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Seats = Annotated[int, Field(ge=1, le=MAX_SEATS)]
Money = Annotated[Decimal, Field(ge=0, le=MAX_UNIT_PRICE, decimal_places=4, allow_inf_nan=False)]
Day = Annotated[date, AfterValidator(_in_date_range)]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# The languages quote emails, reminders and PDFs are written in (DESIGN.md: a customer's `language`).
Language = Literal["en", "nl"]


class Customer(Record):
    csn: Csn
    name: Name
    email: EmailStr
    address: Address
    language: Language = "en"


class Partner(Record):
    """A registered agent (R08, R25): where a buyer's answer to its quotes goes (R26), and a partner a renewal
    may move to (R25)."""

    csn: Csn
    name: Name
    email: EmailStr
    language: Language = "en"


class Subscription(Record):
    id: SubscriptionId
    csn: Csn
    product: Name
    seats: Seats
    term: Term
    currency: Currency
    purchase_method: PurchaseMethod
    partner_csn: Csn | None = None
    offering: Offering = Offering.STANDARD
    start_date: Day
    end_date: Day
    auto_renew: bool

    @model_validator(mode="after")
    def _consistent(self) -> "Subscription":
        if self.end_date <= self.start_date:
            raise ValueError(f"end_date {self.end_date} is not after start_date {self.start_date}")
        if self.purchase_method is PurchaseMethod.PARTNER and self.partner_csn is None:
            raise ValueError("partner_csn is required when purchase_method is partner")
        if self.purchase_method is PurchaseMethod.DIRECT and self.partner_csn is not None:
            raise ValueError("partner_csn must be null when purchase_method is direct")
        return self


class Price(Record):
    product: Name
    term: Term
    currency: Currency
    unit_price: Money


class Promotion(Record):
    code: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
    name: Name
    percent_off: Annotated[Decimal, Field(gt=0, le=100)] | None = None
    amount_off: Annotated[Money, Field(gt=0)] | None = None
    products: Annotated[list[Name], Field(min_length=1)]
    terms: Annotated[list[Term], Field(min_length=1)]
    currencies: Annotated[list[Currency], Field(min_length=1)]
    kinds: Annotated[list[QuoteKind], Field(min_length=1)]
    starts: Day
    ends: Day

    @model_validator(mode="after")
    def _consistent(self) -> "Promotion":
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("exactly one of percent_off and amount_off is required")
        if self.ends < self.starts:
            raise ValueError(f"ends {self.ends} is before starts {self.starts}")
        return self


class DataFile(Record):
    """What `renewals load` reads: every list optional, each record complete."""

    customers: list[Customer] = []
    subscriptions: list[Subscription] = []
    prices: list[Price] = []
    promotions: list[Promotion] = []
    partners: list["Partner"] = []
