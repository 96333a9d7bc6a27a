"""The pages' language (English or Dutch, DESIGN.md): the visitor's switch, remembered in a cookie, else the
browser's Accept-Language; Babel's message catalogs under web/locales, and money and dates in that locale."""

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations
from fastapi import Request

from domain.money import round_money

LOCALES = ("en", "nl")
DEFAULT = "en"
COOKIE = "renewals_lang"
HERE = Path(__file__).parent


def locale_of(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    header = request.headers.get("accept-language", "")
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part.strip()]
    try:
        found = Locale.negotiate(wanted, list(LOCALES), sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return str(found.language) if found and found.language in LOCALES else DEFAULT


@cache
def translations(locale: str) -> NullTranslations:
    """The locale's catalog, compiled from its .po file once per process (no compiled file is kept)."""
    source = HERE / "locales" / locale / "LC_MESSAGES" / "messages.po"
    if not source.exists():
        return NullTranslations()
    with source.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def context(locale: str) -> dict:
    """What every page template gets for its language."""
    catalog = translations(locale)
    return {
        "_": catalog.gettext,
        "ngettext": catalog.ngettext,
        "lang": locale,
        "money": lambda amount, currency: format_currency(
            round_money(Decimal(amount), currency), currency, locale=locale
        ),
        "day": lambda value: format_date(value, format="medium", locale=locale) if isinstance(value, date) else "",
        "moment": lambda value: moment(value, locale),
    }


def moment(value: datetime, locale: str) -> str:
    """A point in time as the locale writes it, in UTC and saying so (`Dec 26, 2026, 10:00 UTC`)."""
    at = value.astimezone(UTC)
    return f"{format_date(at.date(), format='medium', locale=locale)} {at:%H:%M} UTC"


def gettext_of(request: Request):
    """The visitor's catalog's gettext, for texts made in Python."""
    return translations(locale_of(request)).gettext
