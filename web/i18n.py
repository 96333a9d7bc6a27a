"""The pages' language (English or Dutch, DESIGN.md): the visitor's switch, remembered in a cookie, else the
browser's Accept-Language. The catalog and the locale's money and dates are documents/i18n.py's, shared
with the quote emails and the quote PDF."""

from babel import Locale, UnknownLocaleError
from fastapi import Request

from documents.i18n import DEFAULT, LOCALES, context, moment, translations

__all__ = ["COOKIE", "DEFAULT", "LOCALES", "context", "gettext_of", "locale_of", "moment", "translations"]

COOKIE = "renewals_lang"


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


def gettext_of(request: Request):
    """The visitor's catalog's gettext, for texts made in Python."""
    return translations(locale_of(request)).gettext
