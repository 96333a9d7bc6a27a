"""The lifecycle checks QuoteWorkflow's validators run (domain/quote_lifecycle.py): plain functions of the
quote and the time, each refusal naming its rule, with no Temporal server."""

from datetime import timedelta

import pytest

from domain.errors import BadInput, Refused
from domain.quote_lifecycle import check_accept, check_cancel, check_edit, check_pay, check_send
from domain.quote_rules import DraftEdit
from domain.quotes import Quote, QuoteState
from tests.unit.test_quote_rules import NOW, build


def sent(quote: Quote, at=NOW) -> Quote:
    return quote.model_copy(update={"state": QuoteState.SENT, "sent_at": at, "expires_at": quote.expiry_for(at)})


def refused(check, *args) -> Refused:
    with pytest.raises(Refused) as caught:
        check(*args)
    return caught.value


def test_lifecycle_a_draft_is_sent_then_accepted_then_paid() -> None:
    draft = build("SUB-1001")
    check_send(draft, NOW)
    quote = sent(draft)
    check_accept(quote, NOW, pay=False)
    check_accept(quote, NOW, pay=True)
    accepted = quote.model_copy(update={"state": QuoteState.ACCEPTED})
    check_pay(accepted, NOW)
    check_accept(accepted, NOW, pay=True)  # accept and pay again after a declined card


def test_lifecycle_each_action_only_from_its_states() -> None:
    draft, quote = build("SUB-1001"), sent(build("SUB-1001"))
    assert refused(check_send, quote, NOW).rule == "lifecycle"
    assert "only a draft quote can be sent" in refused(check_send, quote, NOW).message
    assert "only a sent quote can be accepted" in refused(check_accept, draft, NOW, False).message
    assert "only an accepted quote can be paid" in refused(check_pay, quote, NOW).message
    assert refused(check_edit, quote, NOW, DraftEdit(seats={"SUB-1001": 2})).rule == "lifecycle"


def test_lifecycle_an_ended_quote_says_how_it_ended() -> None:
    paid = sent(build("SUB-1001")).model_copy(update={"state": QuoteState.PAID})
    assert refused(check_cancel, paid, "sales").message == "quote Q-000001 is paid; it can no longer be cancelled"


def test_r16_a_superseded_quote_names_what_renewed_its_term() -> None:
    superseded = sent(build("SUB-1001")).model_copy(
        update={"state": QuoteState.CANCELLED, "superseded_because": "SUB-1001 was renewed by Q-000002 on 2026-11-27"}
    )
    refusal = refused(check_accept, superseded, NOW, True)
    assert (refusal.rule, refusal.message) == (
        "R16",
        "SUB-1001 was renewed by Q-000002 on 2026-11-27; this quote can no longer be paid",
    )


def test_r15_no_action_after_expiry_even_before_the_timer_fired() -> None:
    quote = sent(build("SUB-1001"))
    late = quote.expires_at + timedelta(seconds=1)
    for check, args in ((check_accept, (False,)), (check_accept, (True,)), (check_pay, ())):
        target = quote if check is check_accept else quote.model_copy(update={"state": QuoteState.ACCEPTED})
        assert refused(check, target, late, *args).rule == "R15"
    check_accept(quote, quote.expires_at - timedelta(seconds=1), False)


def test_r15_a_quote_that_cannot_be_priced_is_not_sent() -> None:
    unpriced = build("SUB-1001").model_copy(update={"pricing_error": "no price for Inventor in EUR"})
    refusal = refused(check_send, unpriced, NOW)
    assert refusal.rule == "R15" and "no price for Inventor" in refusal.message


def test_r01_a_draft_is_not_sent_once_a_window_has_closed() -> None:
    draft = build("SUB-1001")
    closed = draft.expiry_for(NOW) + timedelta(days=400)
    assert refused(check_send, draft.model_copy(update={"expires_at": None}), closed).rule == "R01"


def test_r10_a_buyer_cannot_cancel_partners_and_sales_can() -> None:
    quote = sent(build("SUB-1001"))
    assert refused(check_cancel, quote, "buyer").rule == "R10"
    check_cancel(quote, "partner")
    check_cancel(quote, "sales")


def test_r10_the_address_is_fixed_once_sent() -> None:
    quote = sent(build("SUB-1001"))
    assert refused(check_edit, quote, NOW, DraftEdit(address="Elsewhere 1")).rule == "R10"


def test_r04_r10_draft_edit_checks_recipients_and_lines() -> None:
    draft = build("SUB-1001", "SUB-1003")
    five = [f"r{i}@acme.example" for i in range(5)]
    assert refused(check_edit, draft, NOW, DraftEdit(recipients=five)).rule == "R04"
    assert refused(check_edit, draft, NOW, DraftEdit(seats={"SUB-1001": 6})).rule == "R10"
    kept = check_edit(draft, NOW, DraftEdit(exclude=["SUB-1003"], seats={"SUB-1001": 4}))
    assert [line.subscription_id for line in kept] == ["SUB-1001"]
    with pytest.raises((BadInput, Refused)):
        check_edit(draft, NOW, DraftEdit(exclude=["SUB-1001", "SUB-1003"]))


def test_lifecycle_a_refusal_names_every_state_the_action_needs() -> None:
    draft = build("SUB-1001")
    assert refused(check_accept, draft, NOW, True).message == (
        "quote Q-000001 is draft; only a sent or accepted quote can be paid"
    )
    assert refused(check_edit, sent(draft), NOW, DraftEdit()).message == (
        "quote Q-000001 is sent; only a draft quote can be edited"
    )


@pytest.mark.parametrize("action", ["accept", "accept and pay", "pay", "cancel"])
def test_r20_while_a_payment_is_being_confirmed_nothing_else_is_taken_or_ends_the_quote(action: str) -> None:
    quote = sent(build("SUB-1001")).model_copy(update={"payment": "pending"})
    accepted = quote.model_copy(update={"state": QuoteState.ACCEPTED})
    call = {
        "accept": (check_accept, quote, NOW, False),
        "accept and pay": (check_accept, accepted, NOW, True),
        "pay": (check_pay, accepted, NOW),
        "cancel": (check_cancel, accepted, "sales"),
    }[action]
    refusal = refused(*call)
    assert (refusal.rule, refusal.message) == (
        "R20",
        "the payment of quote Q-000001 is being confirmed with the provider; "
        "no other payment can be taken until it is known",
    )


def test_r15_a_quote_expires_at_the_moment_of_its_expiry() -> None:
    quote = sent(build("SUB-1001"))
    refusal = refused(check_accept, quote, quote.expires_at, False)
    assert (refusal.rule, refusal.message) == (
        "R15",
        "quote Q-000001 expired at 2026-12-26T09:00:00+00:00; ask for a new quote",
    )


def test_r15_an_expired_draft_is_neither_sent_nor_edited() -> None:
    draft = build("SUB-1001").model_copy(update={"expires_at": NOW})
    assert refused(check_send, draft, NOW).rule == "R15"
    assert refused(check_edit, draft, NOW, DraftEdit(seats={"SUB-1001": 4})).rule == "R15"
    check_edit(draft, NOW - timedelta(seconds=1), DraftEdit(seats={"SUB-1001": 4}))


def test_r01_a_draft_is_not_sent_at_the_moment_its_window_closes() -> None:
    draft = build("SUB-1001")  # SUB-1001 ends 2026-12-16: its window closes at the end of 2027-01-30
    closes = draft.expiry_for(draft.created_at + timedelta(days=400))
    refusal = refused(check_send, draft, closes)
    assert (refusal.rule, refusal.message) == ("R01", "the renewal window of a subscription on Q-000001 has closed")
    check_send(draft, closes - timedelta(seconds=1))


def test_r10_buyer_cancel_and_address_change_refusals_say_what_to_do() -> None:
    quote = sent(build("SUB-1001"))
    assert refused(check_cancel, quote, "buyer").message == (
        "a buyer cannot cancel a quote; ask your partner or sales to cancel it"
    )
    assert refused(check_edit, quote, NOW, DraftEdit(address="Elsewhere 1")).message == (
        "the address cannot change after quote Q-000001 was sent; make a new quote"
    )


def test_r04_a_draft_edit_drops_the_buyer_listed_again_in_any_case() -> None:
    four_and_the_buyer = ["BUYER@acme.example", *(f"r{i}@acme.example" for i in range(4))]
    check_edit(build("SUB-1001"), NOW, DraftEdit(recipients=four_and_the_buyer))
