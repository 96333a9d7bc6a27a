"""The texts' languages (English, Dutch): Babel's message catalog in documents/locales, shared by the buyer
pages, the quote emails and the quote PDF, and money and dates the way each locale writes them.

The pages write money and dates with Babel in either locale (`€2,030.50`, `Dec 26, 2026`). Emails and the
PDF are records a customer files: in English they keep the forms of the command line and the Temporal UI
(`EUR 14,607.00`, `2026-12-26`), so one number reads the same everywhere; in Dutch they are written as a
Dutch reader expects (`€ 14.607,00`, `26 december 2026`)."""

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

from documents.tax_words import TAX_NOTES
from domain.models import Language
from domain.money import format_money, round_money
from domain.tax import percent

LOCALES: tuple[Language, ...] = ("en", "nl")
DEFAULT: Language = "en"
CATALOGS = Path(__file__).parent / "locales"


@cache
def translations(locale: str) -> NullTranslations:
    """The locale's catalog, compiled from its .po file once per process (no compiled file is kept)."""
    source = CATALOGS / locale / "LC_MESSAGES" / "messages.po"
    if not source.exists():
        return NullTranslations()
    with source.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def money(amount: Decimal, currency: str, locale: str) -> str:
    """An amount as a page shows it: Babel's form for the locale, rounded half-up (R15)."""
    return format_currency(round_money(Decimal(amount), currency), currency, locale=locale)


def day(value: date | None, locale: str) -> str:
    return format_date(value, format="medium", locale=locale) if isinstance(value, date) else ""


def moment(value: datetime, locale: str) -> str:
    """A point in time as the locale writes it, in UTC and saying so (`Dec 26, 2026, 10:00 UTC`)."""
    at = value.astimezone(UTC)
    return f"{format_date(at.date(), format='medium', locale=locale)} {at:%H:%M} UTC"


def context(locale: str) -> dict:
    """What a page template gets for its language: the catalog, money and dates of that locale."""
    catalog = translations(locale)
    return {
        "_": catalog.gettext,
        "ngettext": catalog.ngettext,
        "lang": locale,
        "money": lambda amount, currency: money(amount, currency, locale),
        "day": lambda value: day(value, locale),
        "moment": lambda value: moment(value, locale),
        "percent": percent,  # R28: a tax rate, `21` or `5.5`
        "tax_notes": TAX_NOTES,
    }


class Writer:
    """How a quote email or the quote PDF writes in the customer's language: its catalog's gettext, money,
    days and moments (the module docstring says why English keeps the command line's forms)."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LOCALES else DEFAULT
        self.gettext = translations(self.language).gettext

    @property
    def english(self) -> bool:
        return self.language == "en"

    def money(self, amount: Decimal | None, currency: str) -> str:
        if amount is None:
            return "-"
        return format_money(amount, currency) if self.english else money(amount, currency, self.language)

    def day(self, value: date | datetime | None) -> str:
        if value is None:
            return "-"
        if isinstance(value, datetime):
            value = value.astimezone(UTC).date()
        return value.isoformat() if self.english else format_date(value, format="long", locale=self.language)

    def moment(self, value: datetime | None) -> str:
        if value is None:
            return "-"
        at = value.astimezone(UTC)
        return f"{self.day(at)} {at:%H:%M} UTC"
