"""`make run`'s banner says what to do next with the demo quote, by its state in the store: a second start
after the demo quote was paid must not tell the reader to pay it again."""

import pytest

from domain.quotes import QuoteState
from tests.unit.test_quote_rules import build
from workers.devstack import demo_step

NEW = "renewals quote create --csn 5100000001 --subscription SUB-1001 --subscription SUB-1003 --send  # "


@pytest.mark.parametrize(
    ("state", "payment", "line"),
    [
        (QuoteState.DRAFT, None, "renewals quote send Q-000001        # the demo quote is a draft: send it"),
        (
            QuoteState.SENT,
            None,
            "renewals quote link Q-000001        # the demo quote: open it in a browser, accept and pay",
        ),
        (
            QuoteState.ACCEPTED,
            None,
            "renewals quote link Q-000001        # the demo quote is accepted: open it in a browser and pay",
        ),
        (
            QuoteState.ACCEPTED,
            "pending",
            "renewals quote link Q-000001        # the demo quote's payment is being confirmed",
        ),
        (
            QuoteState.PAID,
            None,
            "renewals quote link Q-000001        # the demo quote is paid: open it to see its receipt",
        ),
        (QuoteState.EXPIRED, None, NEW + "the demo quote Q-000001 is expired: make a new one"),
        (QuoteState.CANCELLED, None, NEW + "the demo quote Q-000001 is cancelled: make a new one"),
    ],
)
def test_the_banner_says_what_to_do_next_with_the_demo_quote_in_its_state(
    state: QuoteState, payment: str | None, line: str
) -> None:
    quote = build("SUB-1001").model_copy(update={"number": "Q-000001", "state": state, "payment": payment})
    assert demo_step(quote).startswith(line)


def test_with_no_demo_quote_the_banner_says_how_to_make_one() -> None:
    assert demo_step(None) == NEW + "there is no demo quote: make a new one"
