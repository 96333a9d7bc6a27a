"""Texts the pages show by value rather than as a literal: the account templates translate a term's or a
quote state's value (`_(sub.term.value)`, `_(quote.state.value)`), which `pybabel extract` cannot see.
The reasons a link or form is refused (domain/links.py, services/account.py, web/) and a card's field
errors (payments/gateway.py) are shown translated too. They are marked here so `make messages` puts them
in the catalog; tests/unit/test_i18n.py checks that every Term, QuoteState and refusal is listed."""

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

LINK_REFUSALS = (
    _("this link is for another quote"),
    _("this link is for another customer"),
    _("this link is not for this quote"),
    _("the form is not one this site served"),
    _("the form was sent from another site"),
    _("the sign-in link is not valid"),
    _("this sign-in link was used already or has expired"),
    _("open the link from your email again"),
    _("this address is no longer a customer's buyer contact"),
    _("the link has no token"),
    _("the link is not valid"),
    _("the link has expired"),
)

CARD_ERRORS = (
    _("a card number has 12 to 19 digits"),
    _("this card number is not valid"),
    _("the security code (CVC) has 3 or 4 digits"),
    _("write the expiry date as MM/YY, for example 12/29"),
    _("this card has expired"),
)
