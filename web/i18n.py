"""The pages' language (English or Dutch, docs/walkthrough-partners.md), in this order: the visitor's switch, remembered in a
cookie; on a quote's pages, the customer's language, the one its emails and PDF are written in; the browser's
Accept-Language; English. The catalog and the locale's money and dates are documents/i18n.py's, shared with
the quote emails and the quote PDF."""

from babel import Locale, UnknownLocaleError
from fastapi import Request, Response

from documents.i18n import DEFAULT, LOCALES, context, moment, translations

__all__ = [
    "COOKIE",
    "DEFAULT",
    "LOCALES",
    "context",
    "customer_speaks",
    "gettext_of",
    "locale_of",
    "moment",
    "remember",
    "translations",
]

COOKIE = "renewals_lang"
# Where a quote's page keeps its customer's language for the rest of the request.
CUSTOMER = "customer_language"


def customer_speaks(request: Request, language: str) -> None:
    """The page is about a quote of a customer writing in `language`: it opens in it, unless switched."""
    setattr(request.state, CUSTOMER, language)


def locale_of(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    customer = getattr(request.state, CUSTOMER, None)
    if customer in LOCALES:
        return customer
    header = request.headers.get("accept-language", "")
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part.strip()]
    try:
        found = Locale.negotiate(wanted, list(LOCALES), sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return str(found.language) if found and found.language in LOCALES else DEFAULT


def remember(request: Request, response: Response, lang: str) -> None:
    """The switch's choice, for a year, on every page of the site (the account's and the quotes')."""
    if lang in LOCALES:
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure, path="/")


def gettext_of(request: Request):
    """The visitor's catalog's gettext, for texts made in Python."""
    return translations(locale_of(request)).gettext
