"""The records of the data file (docs/architecture.md) and of the store."""

from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from babel import Locale
from dateutil.relativedelta import relativedelta
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberInvalid

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


# The languages quote emails, reminders and PDFs are written in (docs/cli.md, the data file: a customer's `language`).
Language = Literal["en", "nl"]


# ISO 3166 alpha-2 codes, as CLDR (babel) knows them; read once at import.
_COUNTRIES = frozenset(str(code) for code in Locale("en").territories if len(str(code)) == 2 and str(code).isalpha())


def _country(code: str) -> str:
    if code not in _COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166 alpha-2 country code (such as NL, DE or JP)")
    return code


Country = Annotated[str, AfterValidator(_country)]


def checked_vat_number(number: str, country: str | None) -> str:
    """R28: a VAT number in its compact form, its format and check digits checked with python-stdnum; inside
    the EU it carries the customer's country (EL for Greece)."""
    compact = "".join(number.split()).upper()
    if country is None:
        raise ValueError("a VAT number needs the customer's country")
    if eu_vat.guess_country(compact) or country.lower() in eu_vat.MEMBER_STATES:
        prefix = "EL" if country == "GR" else country
        if not compact.startswith(prefix):
            raise ValueError(f"{number!r} is not a VAT number of {country} (it starts with {prefix})")
        try:
            return str(eu_vat.validate(compact))
        except NumberInvalid as err:
            raise ValueError(f"{number!r} is not a valid VAT number: {err}") from None
    module = get_cc_module(country.lower(), "vat")
    if module is None:
        return compact
    try:
        return str(module.validate(compact))
    except NumberInvalid as err:
        raise ValueError(f"{number!r} is not a valid VAT number of {country}: {err}") from None


class Customer(Record):
    csn: Csn
    name: Name
    email: EmailStr
    address: Address
    language: Language = "en"
    country: Country | None = None  # R28: its tax follows it; required once the file has a vendor
    vat_number: Annotated[str, Field(max_length=30)] | None = None  # R28: a business's, checked (python-stdnum)

    @field_validator("vat_number")
    @classmethod
    def _vat(cls, number: str | None, info: ValidationInfo) -> str | None:
        return None if number is None else checked_vat_number(number, info.data.get("country"))


class Vendor(Record):
    """R28: who sells: the seller on every invoice, and whose country's rate applies at home."""

    name: Name
    country: Country
    vat_number: Annotated[str, Field(max_length=30)]
    address: Address
    iban: Annotated[str, Field(max_length=42)] | None = None
    bic: Annotated[str, Field(max_length=11)] | None = None

    @field_validator("vat_number")
    @classmethod
    def _vat(cls, number: str, info: ValidationInfo) -> str:
        return checked_vat_number(number, info.data.get("country"))


class TaxRate(Record):
    """R28: a country's VAT rate in percent, valid from a day to a day (open-ended without `valid_to`)."""

    country: Country
    rate: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4, allow_inf_nan=False)]
    valid_from: Day
    valid_to: Day | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "TaxRate":
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self


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
    vendor: Vendor | None = None  # R28: without one, quotes carry no tax (and `renewals load` says so)
    tax_rates: list[TaxRate] = []
