"""The two ways a request is turned down (domain/errors.py), as the caller reads them: `refused (Rnn): ...`
for a rule, the message alone for bad input; and a stopped quote, which is no refusal."""

from domain.errors import BadInput, NotFound, PaymentDeclined, Refused, Stopped


def test_lifecycle_a_refusal_names_its_rule() -> None:
    refusal = Refused("R04", "a recipient is listed twice")
    assert (str(refusal), refusal.rule, refusal.message) == (
        "refused (R04): a recipient is listed twice",
        "R04",
        "a recipient is listed twice",
    )


def test_r16_a_declined_payment_is_refused_under_r16() -> None:
    declined = PaymentDeclined("your card was declined; nothing was charged")
    assert isinstance(declined, Refused)
    assert (str(declined), declined.rule, declined.message) == (
        "refused (R16): your card was declined; nothing was charged",
        "R16",
        "your card was declined; nothing was charged",
    )


def test_bad_input_is_its_message_with_details_if_any() -> None:
    bad = BadInput("the data file is not valid", ["subscriptions[0].seats: must be at least 1"])
    assert (str(bad), bad.message, bad.details) == (
        "the data file is not valid",
        "the data file is not valid",
        ["subscriptions[0].seats: must be at least 1"],
    )
    assert BadInput("no such quote").details == []
    assert isinstance(NotFound("unknown quote Q-000009"), BadInput)


def test_a_stopped_quote_says_why() -> None:
    stopped = Stopped("quote Q-000001 cannot go on: its calendar is gone")
    assert (str(stopped), stopped.message) == ("quote Q-000001 cannot go on: its calendar is gone",) * 2
