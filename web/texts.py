"""Texts the pages show by value rather than as a literal: the account templates translate a term's or a
quote state's value (`_(sub.term.value)`, `_(quote.state.value)`), which `pybabel extract` cannot see.
They are marked here so `make messages` puts them in the catalog; tests/unit/test_i18n.py checks that
every Term and QuoteState is listed."""

from domain.models import Term
from domain.quotes import QuoteState


def _(message: str) -> str:
    """Marks a text for extraction only; the page translates it when it shows it."""
    return message


TERMS = {
    Term.MONTHLY: _("monthly"),
    Term.ANNUAL: _("annual"),
    Term.THREE_YEAR: _("3-year"),
}

QUOTE_STATES = {
    QuoteState.DRAFT: _("draft"),
    QuoteState.SENT: _("sent"),
    QuoteState.ACCEPTED: _("accepted"),
    QuoteState.PAID: _("paid"),
    QuoteState.EXPIRED: _("expired"),
    QuoteState.CANCELLED: _("cancelled"),
}
