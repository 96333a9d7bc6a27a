"""R29, bank transfer, in the pure model: the quote's ISO 11649 reference (domain/bank_transfer.py), accepting to
pay by transfer (accepted, holding, awaiting the transfer), and a transfer recorded: the exact total pays through
the offline payment's path, anything else is refused with the difference and changes nothing."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from stdnum import iso11649

from domain.bank_transfer import checked_reference, difference, is_rf, printed, quote_of, rf_reference
from domain.errors import BadInput, Refused
from domain.quote_aggregate import PayCommand
from domain.quote_effects import (
    Attach,
    Charge,
    Charged,
    Detach,
    Email,
    Renew,
    RenewedTerms,
    Reserve,
    Reserved,
    Save,
    Step,
)
from domain.quotes import QuoteState
from tests.unit.test_quote_aggregate import (
    BUYER,
    EXPIRES,
    LATER,
    NEXT_END,
    OWNER,
    PAY_AT,
    TERM,
    TOTAL,
    accepted,
    changed,
    refusal,
    sent,
)

RF = rf_reference("Q-000042")


def transfer(**changes) -> PayCommand:
    """A bank statement's line for the quote: its reference, its total, its currency."""
    line = {"reference": RF, "amount": TOTAL, "currency": "EUR", "received_on": date(2027, 3, 4), "by": "api:bank"}
    return PayCommand(**(line | changes))


@pytest.mark.parametrize("number", ["Q-000001", "Q-000042", "Q-123456", "Q-000000000123"])
def test_r29_the_rf_reference_is_valid_iso_11649_and_names_its_quote(number: str) -> None:
    reference = rf_reference(number)
    assert iso11649.is_valid(reference)
    assert reference.startswith("RF") and reference.endswith(number.removeprefix("Q-"))
    assert rf_reference(number) == reference  # the same on every retry
    assert quote_of(reference) == number
    assert quote_of(printed(reference)) == number  # as a buyer types it, in groups of four
    assert quote_of(reference.lower()) == number


def test_r29_known_check_digits() -> None:
    assert rf_reference("Q-000042") == "RF34000042"
    assert rf_reference("Q-000043") == "RF07000043"
    assert printed("RF34000042") == "RF34 0000 42"


@pytest.mark.parametrize(
    "reference",
    ["RF87ACME42", "RF7812345", "RF34000043", "RF3400004", "RF34 ABC", "BANK-1", "RF2300000000000000000000042", ""],
)
def test_r29_an_unknown_or_invalid_reference_names_no_quote(reference: str) -> None:
    assert quote_of(reference) is None


def test_r29_a_reference_is_checked_at_the_edge_naming_its_field() -> None:
    assert checked_reference("rf34 0000 42") == "RF34000042"
    with pytest.raises(BadInput, match=r"transfers\[1\]\.reference: 'RF35000042' is not a valid ISO 11649"):
        checked_reference("RF35000042", "transfers[1].reference")
    assert is_rf("rf34 0000 42") and not is_rf("BANK-42")


def test_r29_difference_is_signed() -> None:
    q = accepted().quote
    assert difference(q, TOTAL + Decimal("12.34")) == Decimal("12.34")
    assert difference(q, TOTAL - Decimal("12.34")) == Decimal("-12.34")


def test_r29_bank_transfer_accepts_and_holds_until_the_transfer_is_recorded() -> None:
    before = sent(total=TOTAL)
    decision = before.accept(LATER, BUYER, bank_transfer=True)
    q = changed(before.quote, state=QuoteState.ACCEPTED, accepted_at=LATER, transfer_reference=RF)
    assert q.awaits_transfer and q.payment is None  # awaiting a transfer is not R20's "payment pending"
    assert decision.refusal is None
    assert decision.state.quote == q
    assert decision.effects == [
        Attach(subscriptions=["SUB-1"], hold=True),  # R17
        Save(
            steps=[Step(event="accepted", quote=q)],
            detail={"payment": "bank_transfer", "reference": RF, "by": BUYER},
        ),
        Email(purpose="transfer", quote=q),
    ]
    assert "awaiting bank transfer RF34000042" in q.details()
    assert q.json_view()["transfer_reference"] == RF and "transfer_reference" not in before.quote.json_view()
    again = decision.state.accept(PAY_AT, BUYER, bank_transfer=True)
    assert again.state is decision.state and again.effects == [] and again.refusal is None

    paying = decision.state.pay(PAY_AT, transfer(), False)
    assert paying.refusal is None
    assert paying.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]
    charging = paying.state.on(Reserved(), PAY_AT)
    assert charging.effects == [Charge(amount=TOTAL, currency="EUR", reference=RF, by="api:bank")]
    assert charging.state.charge_asked is False  # offline money: no provider lookup
    renewing = charging.state.on(Charged(outcome="charged", reference=RF), PAY_AT)
    assert isinstance(renewing.effects[0], Renew)
    paid = renewing.state.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    assert paid.state.quote.state is QuoteState.PAID and paid.state.quote.payment_reference == RF
    assert not paid.state.quote.awaits_transfer
    saved = paid.effects[0]
    assert isinstance(saved, Save) and saved.detail["received_on"] == "2027-03-04"


def test_r29_an_accepted_quote_may_choose_bank_transfer_later_without_a_second_accepted_event() -> None:
    before = accepted()
    decision = before.accept(PAY_AT, BUYER, bank_transfer=True)
    assert decision.state.quote.accepted_at == LATER and decision.state.quote.transfer_reference == RF
    saves = [e for e in decision.effects if isinstance(e, Save)]
    assert [s.steps[-1].event for s in saves] == ["bank transfer chosen"]


def test_r29_a_transfer_of_the_wrong_amount_is_refused_with_the_difference() -> None:
    before = accepted().accept(PAY_AT, BUYER, bank_transfer=True).state
    short = before.pay(PAY_AT, transfer(amount=TOTAL - Decimal("12.34")), False)
    err = refusal(short)
    assert isinstance(err, Refused) and err.rule == "R29"
    assert err.message == (
        "quote Q-000042 is EUR 1,210.00; the transfer of EUR 1,197.66 differs by EUR 12.34 (too little); "
        "nothing was recorded"
    )
    assert short.state is before and short.effects == []
    over = refusal(before.pay(PAY_AT, transfer(amount=TOTAL + 1), False))
    assert "differs by EUR 1.00 (too much)" in over.message
    currency = refusal(before.pay(PAY_AT, transfer(currency="USD"), False))
    assert currency.message == "the transfer is in USD; quote Q-000042 is in EUR; nothing was recorded"
    other = refusal(before.pay(PAY_AT, transfer(reference=rf_reference("Q-000043")), False))
    assert other.message == "RF07000043 is not the payment reference of quote Q-000042; nothing was recorded"
    assert [err.rule for err in (over, currency, other)] == ["R29", "R29", "R29"]


def test_r29_a_plain_offline_reference_still_pays_and_a_card_may_still_pay() -> None:
    before = accepted().accept(PAY_AT, BUYER, bank_transfer=True).state
    assert before.pay(PAY_AT, PayCommand(reference="BANK-42"), False).refusal is None
    assert before.pay(PAY_AT, PayCommand(payment_method="pm_card_visa"), False).refusal is None


def test_r29_the_same_statement_line_twice_pays_once_in_the_model() -> None:
    before = accepted().accept(PAY_AT, BUYER, bank_transfer=True).state
    paying = before.pay(PAY_AT, transfer(), False).state
    assert refusal(paying.pay(PAY_AT, transfer(), False)).rule == "R20"  # one payment at a time


def test_r29_reminders_go_on_while_the_transfer_is_awaited_in_the_model() -> None:
    before = sent(total=TOTAL).accept(LATER, BUYER, bank_transfer=True).state
    assert before.next_reminder() == (EXPIRES - timedelta(days=7), 7)
    decision = before.remind(7)
    assert [e.purpose for e in decision.effects if isinstance(e, Email)] == ["pay_reminder"]
    assert decision.effects[-1].quote.awaits_transfer


def test_r29_unpaid_it_expires_and_releases_its_hold_in_the_model() -> None:
    before = sent(total=TOTAL).accept(LATER, BUYER, bank_transfer=True).state
    decision = before.expire(EXPIRES)
    assert decision.state.quote.state is QuoteState.EXPIRED
    assert Detach(subscriptions=["SUB-1"]) in decision.effects
    assert not decision.state.quote.awaits_transfer


@pytest.mark.parametrize("ending", ["cancelled", "paid"])
def test_r29_bank_transfer_is_refused_as_accept_and_pay_is_on_an_ended_quote(ending: str) -> None:
    before = accepted()
    if ending == "cancelled":
        before = before.cancel(PAY_AT, "sales").state
    else:
        before = before.model_copy(update={"quote": before.quote.model_copy(update={"state": QuoteState.PAID})})
    decision = before.accept(PAY_AT, BUYER, bank_transfer=True)
    assert refusal(decision).rule == "lifecycle" and decision.effects == []
