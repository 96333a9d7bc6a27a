"""R23 revisions, decided before any server is asked (domain/revisions.py): who may revise which quote,
when a revision may be sent, and the request a revision is made from (the original's lines, recipients
and hold, with the changes given). tests/workflows/test_revisions.py proves the same on the servers."""

from datetime import date, timedelta

import pytest

from domain.errors import Refused
from domain.models import PurchaseMethod, QuoteKind, Term
from domain.quote_rules import NewLine, QuoteRequest, build_quote
from domain.quotes import Origin, QuoteLine, QuoteState
from domain.revisions import Revision, check_revise, check_send_revision, co_term_anchors, revision_request
from tests.unit.test_eligibility import END, subscription
from tests.unit.test_quote_rules import ACME, CUSTOMERS, NOW, SUBS, TODAY, build
from tests.unit.test_quotes import line, quote

CFO = "cfo@acme.example"
FINANCE = "finance@acme.example"
HOME = "Keizersgracht 1"  # the customer's address, as test_quotes.quote() has it
ALIGN = date(2027, 9, 30)  # the end date a co-term quote's lines move to
PARTNER = "5200000001"


def refusal(call, *args) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)
    return caught.value


def sent(**changes):
    return quote(state=QuoteState.SENT, **changes)


def renewal(**changes):
    """A partner's sent renewal of two subscriptions, one of them on a new term."""
    fields = dict(
        origin=Origin.PARTNER,
        purchase_method=PurchaseMethod.PARTNER,
        partner_csn=PARTNER,
        recipients=[CFO],
        lines=[line(), line(subscription_id="SUB-2", seats=3, current_seats=3, term=Term.THREE_YEAR)],
    )
    return sent(**(fields | changes))


def co_term(**changes):
    return sent(kind=QuoteKind.CO_TERM, origin=Origin.SALES, lines=[line(co_term_end_date=ALIGN)], **changes)


def new_purchase(**changes):
    fields = dict(
        kind=QuoteKind.NEW,
        origin=Origin.PARTNER,
        currency="USD",
        purchase_method=PurchaseMethod.PARTNER,
        partner_csn=PARTNER,
        lines=[QuoteLine(subscription_id=None, product="Fusion", seats=3, term=Term.ANNUAL)],
    )
    return sent(**(fields | changes))


# check_revise: who may revise, and what.


@pytest.mark.parametrize("origin", [Origin.PARTNER, Origin.SALES, Origin.AUTO])
def test_r23_partner_and_sales_revise_a_sent_quote_without_an_open_revision(origin) -> None:
    assert check_revise(sent(), origin, []) is None


def test_r23_a_buyer_cannot_revise_r10() -> None:
    err = refusal(check_revise, sent(), Origin.SELF_SERVICE, [])
    assert (err.rule, err.message) == (
        "R10",
        "a buyer cannot revise quote Q-000042; ask your partner or sales for a revision, or make a new quote",
    )
    # The buyer hears that before anything about the quote's state or its revisions.
    assert refusal(check_revise, quote(), Origin.SELF_SERVICE, ["Q-000050"]).rule == "R10"


@pytest.mark.parametrize("state", [QuoteState.DRAFT, QuoteState.ACCEPTED])
def test_r23_only_a_sent_quote_is_revised(state) -> None:
    err = refusal(check_revise, quote(state=state), Origin.SALES, [])
    assert (err.rule, err.message) == (
        "lifecycle",
        f"quote Q-000042 is {state.value}; only a sent quote can be revised",
    )


@pytest.mark.parametrize("state", [QuoteState.PAID, QuoteState.EXPIRED, QuoteState.CANCELLED])
def test_r23_an_ended_quote_is_not_revised(state) -> None:
    err = refusal(check_revise, quote(state=state), Origin.PARTNER, [])
    assert (err.rule, err.message) == ("lifecycle", f"quote Q-000042 is {state.value}; it can no longer be revised")
    replaced = quote(state=QuoteState.CANCELLED, revised_by="Q-000050")
    err = refusal(check_revise, replaced, Origin.PARTNER, [])
    assert (err.rule, err.message) == ("R23", "quote Q-000042 was revised by Q-000050; it can no longer be revised")


def test_r23_one_open_revision_at_a_time_and_the_refusal_names_it() -> None:
    err = refusal(check_revise, sent(), Origin.SALES, ["Q-000050", "Q-000051"])
    assert (err.rule, err.message) == (
        "R23",
        "quote Q-000042 already has an open revision, Q-000050; send or cancel it first",
    )
    # A quote that may not be revised says so first.
    assert refusal(check_revise, quote(), Origin.SALES, ["Q-000050"]).rule == "lifecycle"


# check_send_revision: a revision replaces a sent quote only.


def test_r23_a_revision_of_a_sent_quote_or_of_none_is_sent() -> None:
    revision = quote(number="Q-000043", revises="Q-000042")
    assert check_send_revision(revision, sent()) is None
    assert check_send_revision(revision, None) is None


@pytest.mark.parametrize(
    "state", [QuoteState.DRAFT, QuoteState.ACCEPTED, QuoteState.PAID, QuoteState.EXPIRED, QuoteState.CANCELLED]
)
def test_r23_a_revision_is_not_sent_once_the_original_is_accepted_or_ended(state) -> None:
    revision = quote(number="Q-000043", revises="Q-000042")
    err = refusal(check_send_revision, revision, quote(state=state))
    assert (err.rule, err.message) == (
        "R23",
        f"quote Q-000042, which Q-000043 revises, is {state.value} now; cancel Q-000043, or cancel Q-000042 first",
    )


# co_term_anchors: what a co-term quote's lines align to.


def test_r23_a_co_term_quote_aligns_to_the_customers_subscriptions_ending_on_its_date_bought_the_same_way() -> None:
    original = co_term(purchase_method=PurchaseMethod.PARTNER, partner_csn=PARTNER)
    partner = dict(purchase_method="partner", partner_csn=PARTNER, end_date=ALIGN)
    subscriptions = [
        subscription(purchase_method="partner", partner_csn=PARTNER),  # SUB-1, the line that moves
        subscription(id="SUB-9", **partner),  # the anchor
        subscription(id="SUB-8", **partner | {"currency": "USD"}),
        subscription(id="SUB-7", **partner | {"partner_csn": "5200000002"}),
        subscription(id="SUB-6", end_date=ALIGN),  # bought direct
        subscription(id="SUB-5", **partner | {"end_date": ALIGN - timedelta(days=1)}),
        subscription(id="SUB-4", **partner | {"end_date": END}),
        subscription(id="SUB-3", **partner),  # a second anchor, in the order given
    ]
    assert co_term_anchors(original, subscriptions) == ["SUB-9", "SUB-3"]
    direct = co_term()
    assert co_term_anchors(direct, subscriptions) == ["SUB-6"]
    assert co_term_anchors(direct, [subscription(), subscription(id="SUB-2", end_date=END)]) == []


def test_r23_a_renewal_aligns_to_nothing() -> None:
    assert co_term_anchors(sent(), [subscription(id="SUB-9", end_date=ALIGN), subscription(id="SUB-2")]) == []


# revision_request: the original's request with the changes applied.


def test_r23_a_revision_is_the_originals_lines_recipients_and_origin() -> None:
    assert revision_request(renewal(), Revision(), HOME) == QuoteRequest(
        csn="5100000001",
        subscription_ids=["SUB-1", "SUB-2"],
        new_lines=[],
        exclude=[],
        seats={"SUB-1": 5, "SUB-2": 3},
        terms={"SUB-1": Term.ANNUAL, "SUB-2": Term.THREE_YEAR},
        recipients=[CFO],
        origin=Origin.PARTNER,
        kind=QuoteKind.RENEWAL,
        pause_auto_renew=True,  # the new term holds auto-renew (R02); so does the revision
        address=None,  # the customer's
        currency=None,
        start_date=None,
        partner_csn=None,  # a renewal's partner is its subscriptions'
    )


def test_r23_a_revision_adds_leaves_out_and_changes_lines_and_names_new_recipients() -> None:
    revision = Revision(
        subscription_ids=["SUB-3", "SUB-1"],
        exclude=["SUB-2"],
        seats={"SUB-1": 8},
        terms={"SUB-1": Term.THREE_YEAR, "SUB-3": Term.MONTHLY},
        recipients=[FINANCE],
        origin=Origin.SALES,
        start_date=date(2027, 4, 1),
    )
    request = revision_request(renewal(), revision, HOME)
    assert request.subscription_ids == ["SUB-1", "SUB-2", "SUB-3"]  # each once, the original's first
    assert request.exclude == ["SUB-2"]
    assert request.seats == {"SUB-1": 8}  # the line left out keeps no seats
    assert request.terms == {"SUB-1": Term.THREE_YEAR, "SUB-3": Term.MONTHLY}
    assert request.recipients == [FINANCE]
    assert request.origin is Origin.SALES
    assert request.start_date == date(2027, 4, 1)
    # No recipients given keeps the original's; an empty list takes them off.
    assert revision_request(renewal(), Revision(), HOME).recipients == [CFO]
    assert revision_request(renewal(), Revision(recipients=[]), HOME).recipients == []


def test_r23_r02_the_originals_hold_on_auto_renew_passes_to_its_revision() -> None:
    unchanged = sent()  # no line changes its subscription, no hold asked for
    assert not unchanged.holds_auto_renew
    assert revision_request(unchanged, Revision(), HOME).pause_auto_renew is False
    assert revision_request(unchanged, Revision(pause_auto_renew=True), HOME).pause_auto_renew is True
    asked = sent(pause_auto_renew=True)
    assert revision_request(asked, Revision(), HOME).pause_auto_renew is True
    changed = sent(lines=[line(seats=7)])
    assert revision_request(changed, Revision(), HOME).pause_auto_renew is True
    # A revision that drops the change still holds what the original held.
    assert revision_request(changed, Revision(seats={"SUB-1": 5}), HOME).pause_auto_renew is True


def test_r23_a_revision_keeps_an_address_the_original_was_given_else_the_customers() -> None:
    assert revision_request(sent(), Revision(), HOME).address is None
    moved = sent(address="Herengracht 2")
    assert revision_request(moved, Revision(), HOME).address == "Herengracht 2"
    assert revision_request(moved, Revision(address="Prinsengracht 3"), HOME).address == "Prinsengracht 3"
    assert revision_request(sent(), Revision(address="Prinsengracht 3"), HOME).address == "Prinsengracht 3"


def test_r23_a_co_term_revision_aligns_to_the_anchors_again_and_keeps_its_lines() -> None:
    request = revision_request(co_term(), Revision(recipients=[FINANCE]), HOME, ["SUB-9", "SUB-1"])
    assert request == QuoteRequest(
        csn="5100000001",
        subscription_ids=["SUB-1", "SUB-9"],
        recipients=[FINANCE],
        origin=Origin.SALES,
        kind=QuoteKind.CO_TERM,
        pause_auto_renew=True,  # a co-term line changes its subscription (R02)
    )
    assert (request.seats, request.terms) == ({}, {})  # the lines are what the alignment makes them
    assert revision_request(co_term(), Revision(), HOME).subscription_ids == ["SUB-1"]
    assert revision_request(co_term(), Revision(), HOME, []).subscription_ids == ["SUB-1"]
    # Only a co-term quote aligns: a renewal's revision takes no anchors.
    assert revision_request(sent(), Revision(), HOME, ["SUB-9"]).subscription_ids == ["SUB-1"]


def test_r23_a_new_purchase_revision_keeps_its_products_currency_and_partner() -> None:
    vault = NewLine(product="Vault", seats=2, term=Term.MONTHLY)
    revision = Revision(new_lines=[vault], start_date=date(2027, 1, 15))
    assert revision_request(new_purchase(), revision, HOME) == QuoteRequest(
        csn="5100000001",
        subscription_ids=[],
        new_lines=[NewLine(product="Fusion", seats=3, term=Term.ANNUAL), vault],
        seats={},
        terms={},
        recipients=[],
        origin=Origin.PARTNER,
        kind=QuoteKind.NEW,
        currency="USD",
        start_date=date(2027, 1, 15),
        partner_csn=PARTNER,
    )


def test_r23_a_revision_built_again_has_the_originals_lines_with_the_changes() -> None:
    """The request goes through every rule of creation again (services/quotes.py); on the demo data a
    sales quote revised as tests/workflows/test_revisions.py does it."""
    original = build("SUB-1001", "SUB-1003", origin="sales", recipients=[CFO], pause_auto_renew=True)
    request = revision_request(original, Revision(seats={"SUB-1001": 8}, exclude=["SUB-1003"]), CUSTOMERS[ACME].address)
    ids = request.subscription_ids
    revision = build_quote("Q-000002", request, CUSTOMERS[ACME], [SUBS[i] for i in ids], TODAY, NOW)
    assert [(line.subscription_id, line.seats) for line in revision.lines] == [("SUB-1001", 8)]
    assert (revision.recipients, revision.origin, revision.pause_auto_renew) == ([CFO], Origin.SALES, True)

    co_termed = build("SUB-1001", "SUB-1002", kind=QuoteKind.CO_TERM, origin="sales")
    acme = [s for s in SUBS.values() if s.csn == ACME]
    anchors = co_term_anchors(co_termed, acme)
    assert anchors == ["SUB-1002"]
    request = revision_request(co_termed, Revision(recipients=[FINANCE]), CUSTOMERS[ACME].address, anchors)
    ids = request.subscription_ids
    revision = build_quote("Q-000002", request, CUSTOMERS[ACME], [SUBS[i] for i in ids], TODAY, NOW)
    assert revision.lines == co_termed.lines and revision.kind is QuoteKind.CO_TERM
