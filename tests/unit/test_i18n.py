"""R24, the account pages in English and Dutch (web/i18n.py): every text the pages show has a Dutch
translation, the language comes from the remembered switch or the browser, and money and dates are
written the locale's way."""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from starlette.requests import Request

from documents import i18n as documents_i18n
from domain.models import Term
from domain.quotes import QuoteState
from web import i18n, texts

ROOT = Path(__file__).parents[2]
WEB = ROOT / "web"
# Where babel.cfg extracts from: the pages, the quote emails and the quote PDF share the one catalog.
SOURCES = (WEB, ROOT / "activities" / "templates", ROOT / "activities" / "email.py", ROOT / "documents")
DUTCH = ROOT / "documents" / "locales" / "nl" / "LC_MESSAGES" / "messages.po"

Msgid = str | tuple[str, ...]


def extracted() -> dict[Msgid, set[str]]:
    """What `make messages` extracts (babel.cfg, Babel's extraction API): each msgid and the files it is in."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    found: dict[Msgid, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT,
        method_map,
        options_map,
        directory_filter=lambda path: any(
            Path(path).resolve().is_relative_to(source.resolve())
            or source.resolve().is_relative_to(Path(path).resolve())
            for source in SOURCES
        ),
    ):
        msgid = message if isinstance(message, str) else tuple(message)
        found.setdefault(msgid, set()).add(Path(filename).resolve().relative_to(ROOT.resolve()).as_posix())
    return found


def dutch_catalog():
    with DUTCH.open("rb") as po:
        return read_po(po, locale="nl")


def request(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/account", "headers": raw})


def test_r24_extraction_reads_every_account_template_and_the_account_code() -> None:
    files = set().union(*extracted().values())
    templates = {p.relative_to(ROOT).as_posix() for p in (WEB / "templates" / "account").glob("*.html")}
    assert templates, "no account templates found"
    assert templates | {"web/account.py", "web/texts.py"} <= files, (templates | {"web/account.py"}) - files
    # The texts web/account.py passes through `_` itself, so a call Babel cannot see would show up here.
    assert {"This did not work", "Open the sign-in page again.", "Ask for a new link on the sign-in page."} <= {
        msgid for msgid, where in extracted().items() if "web/account.py" in where
    }


def test_r24_every_account_text_has_a_dutch_translation() -> None:
    catalog = dutch_catalog()
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    missing, fuzzy = [], []
    for msgid in extracted():
        key = msgid if isinstance(msgid, str) else msgid[0]
        message = catalog.get(key)
        strings = (
            () if message is None else (message.string if isinstance(message.string, tuple) else (message.string,))
        )
        if message is None or not strings or not all(s and s.strip() for s in strings):
            missing.append(msgid)
        elif message.fuzzy:
            fuzzy.append(msgid)
        elif isinstance(msgid, tuple) and (not message.pluralizable or len(strings) != catalog.num_plurals):
            missing.append(msgid)
    assert not missing, f"no Dutch translation (run `make messages`, then translate): {missing}"
    assert not fuzzy, f"fuzzy Dutch translations to check: {fuzzy}"


def test_r24_dutch_translations_keep_every_placeholder() -> None:
    """A translation that drops or renames %(email)s or %(num)d would break the page's `format`."""
    problems = [(message.id, [str(e) for e in errors]) for message, errors in dutch_catalog().check()]
    assert not problems, problems


def test_r24_terms_and_quote_states_shown_by_value_are_all_marked_for_translation() -> None:
    """The templates translate `_(sub.term.value)` and `_(quote.state.value)`: web/texts.py lists them all."""
    assert texts.TERMS == {term: term.value for term in Term}
    assert texts.QUOTE_STATES == {state: state.value for state in QuoteState}
    catalog = i18n.translations("nl")
    assert [catalog.gettext(term.value) for term in Term] == ["maandelijks", "jaarlijks", "3-jarig"]
    assert catalog.gettext(QuoteState.CANCELLED.value) == "geannuleerd"


def test_r24_every_link_refusal_and_card_error_is_marked_for_translation() -> None:
    """The pages translate `str(LinkRefused)` and a card field's error by value: web/texts.py lists every
    one that the code raises, so a new reason without a Dutch text fails here."""
    raised = set()
    for module in ("domain/links.py", "services/account.py", "web/pages.py", "web/account.py"):
        raised |= set(re.findall(r'LinkRefused\("([^"]+)"\)', (ROOT / module).read_text()))
    card = set(re.findall(r'raise ValueError\("([^"]+)"\)', (ROOT / "payments" / "gateway.py").read_text()))
    assert len(raised) >= 10 and len(card) == 5, (raised, card)
    assert raised == set(texts.LINK_REFUSALS)
    assert card == set(texts.CARD_ERRORS)
    catalog = i18n.translations("nl")
    assert all(catalog.gettext(text) != text for text in raised | card)


def test_r24_the_quote_pages_are_extracted_too() -> None:
    """The quote, pay and ended pages a buyer reaches from the account are in the catalog (web/pages.py)."""
    files = set().union(*extracted().values())
    assert {f"web/templates/{name}.html" for name in ("quote", "quote_table", "pay", "ended", "quotes")} <= files
    assert "web/pages.py" in files


def test_r24_the_dutch_catalog_is_compiled_from_its_po_file() -> None:
    nl, en = i18n.context("nl"), i18n.context("en")
    assert nl["_"]("Subscriptions and contracts") == "Abonnementen en contracten"
    assert nl["_"]("Bulk actions: Renew") == "Bulkacties: Verlengen"
    assert en["_"]("Bulk actions: Renew") == "Bulk actions: Renew"
    assert nl["ngettext"]("%(num)d seat", "%(num)d seats", 1) % {"num": 1} == "1 licentie"
    assert nl["ngettext"]("%(num)d seat", "%(num)d seats", 5) % {"num": 5} == "5 licenties"
    assert not list(DUTCH.parent.glob("*.mo")), "a compiled catalog is generated, never kept"


@pytest.mark.parametrize(
    ("headers", "locale"),
    [
        ({"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"}, "nl"),
        ({"Accept-Language": "nl-BE"}, "nl"),
        ({"Accept-Language": "en-GB,en;q=0.9,nl;q=0.8"}, "en"),
        ({"Accept-Language": "fr-FR"}, "en"),
        ({"Accept-Language": "fr-FR,nl;q=0.5"}, "nl"),
        ({"Accept-Language": "*"}, "en"),
        ({"Accept-Language": ";;,,q=x"}, "en"),
        ({}, "en"),
        ({"Accept-Language": "nl-NL", "Cookie": f"{i18n.COOKIE}=en"}, "en"),
        ({"Accept-Language": "en-US", "Cookie": f"{i18n.COOKIE}=nl"}, "nl"),
        ({"Accept-Language": "nl-NL", "Cookie": f"{i18n.COOKIE}=de"}, "nl"),
    ],
)
def test_r24_locale_from_the_remembered_switch_else_the_browser(headers: dict[str, str], locale: str) -> None:
    assert i18n.locale_of(request(headers)) == locale


@pytest.mark.parametrize(
    ("headers", "customer", "locale"),
    [
        ({"Accept-Language": "en-GB"}, "nl", "nl"),
        ({"Accept-Language": "nl-NL"}, "en", "en"),
        ({"Accept-Language": "nl-NL", "Cookie": f"{i18n.COOKIE}=en"}, "nl", "en"),
        ({"Cookie": f"{i18n.COOKIE}=nl"}, "en", "nl"),
        ({"Accept-Language": "nl-NL", "Cookie": f"{i18n.COOKIE}=de"}, "en", "en"),
        ({"Accept-Language": "nl-NL"}, "de", "nl"),
        ({}, "de", "en"),
    ],
)
def test_a_quote_page_speaks_the_visitors_choice_then_the_customers_language_then_the_browsers(
    headers: dict[str, str], customer: str, locale: str
) -> None:
    visit = request(headers)
    i18n.customer_speaks(visit, customer)
    assert i18n.locale_of(visit) == locale


def test_r24_money_in_the_chosen_locale() -> None:
    nl, en = i18n.context("nl")["money"], i18n.context("en")["money"]
    # Babel separates symbol and amount with a no-break space.
    assert nl(Decimal("2030.5"), "EUR") == "€\xa02.030,50"
    assert en(Decimal("2030.5"), "EUR") == "€2,030.50"
    assert nl(Decimal("2030.5"), "JPY").endswith("\xa02.031")  # no minor units, R15's half-up rounding
    assert en(Decimal("2030.5"), "JPY") == "¥2,031"
    assert nl(Decimal("0.125"), "EUR") == "€\xa00,13"


def test_r24_dates_in_the_chosen_locale() -> None:
    nl, en = i18n.context("nl")["day"], i18n.context("en")["day"]
    assert nl(date(2026, 12, 1)) != en(date(2026, 12, 1))
    assert nl(date(2026, 12, 1)) == "1 dec 2026"
    assert en(date(2026, 12, 1)) == "Dec 1, 2026"
    assert nl(None) == ""


def test_language_the_emails_and_the_pdf_share_the_pages_catalog() -> None:
    """The quote emails' templates and subjects and the PDF's texts are extracted into the one catalog, so the
    test above holds them to a Dutch translation too; the email templates use it (`_`), not English literals."""
    found = extracted()
    files = set().union(*found.values())
    emails = {"activities/templates/quote.txt.j2", "activities/templates/quote.html.j2", "activities/email.py"}
    assert emails | {"documents/quote_pdf.py"} <= files
    assert "Renewal quote %(number)s: %(total)s, valid until %(expires)s" in found
    assert "web/templates/quote_table.html" in found["Subtotal"] and "documents/quote_pdf.py" in found["Subtotal"]
    assert i18n.translations is documents_i18n.translations, "the pages read the same catalog"
