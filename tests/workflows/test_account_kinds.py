"""R07 account quotes of every kind over HTTP, on the time-skipping server with the real worker, PostgreSQL and
SMTP: from the renew page a co-term quote (aligned to the latest end date, prorated), and from "Buy new" a
new-purchase quote from the price list; refusals as the API's, shown on the form, nothing made."""

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import QuoteKind
from domain.quotes import Origin, QuoteState
from tests.helpers import form_fields, scalar
from tests.workflows.test_account import account_site, signed_in
from workers.demo_data import ACME

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r07_the_account_makes_a_co_term_quote_aligned_to_the_latest_end_date(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (quotes, web):
        await signed_in(web, mailbox)
        groups = await web.get("/account/renew")
        assert 'name="kind" value="co-term"' in groups.text
        review = await web.get("/account/renew/review", params={"ids": ["SUB-1001", "SUB-1002"], "kind": "co-term"})
        assert (
            review.status_code == 200 and 'id="co-term"' in review.text and 'name="seats-SUB-1001"' not in review.text
        )
        fields = form_fields(review.text, "/account/quotes")
        assert fields["kind"] == "co-term"
        sent = await web.post("/account/quotes", data=fields | {"ids": ["SUB-1001", "SUB-1002"]})
        assert sent.status_code == 303, sent.text
        (quote,) = await quotes.find(csn=ACME)
    sub_1002_end = quote.lines[0].co_term_end_date
    assert (quote.kind, quote.origin, quote.state) == (QuoteKind.CO_TERM, Origin.SELF_SERVICE, QuoteState.SENT)
    assert [line.subscription_id for line in quote.lines] == ["SUB-1001"] and sub_1002_end is not None
    added, full = quote.lines[0].proration or (0, 1)
    assert 0 < added < full and quote.total > 0


async def test_r07_the_account_buys_new_from_the_price_list_and_a_refusal_makes_nothing(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (quotes, web):
        await signed_in(web, mailbox)
        form = await web.get("/account/new")
        assert form.status_code == 200 and 'value="Maya|annual|EUR"' in form.text
        fields = form_fields(form.text, "/account/quotes/new")
        five = ", ".join(f"r{i}@acme.example" for i in range(5))
        refused = await web.post(
            "/account/quotes/new", data=fields | {"offer": "Maya|annual|EUR", "seats": "2", "recipients": five}
        )
        zero = await web.post("/account/quotes/new", data=fields | {"offer": "Maya|annual|EUR", "seats": "0"})
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0
        sent = await web.post(
            "/account/quotes/new",
            data=fields | {"offer": "Maya|annual|EUR", "seats": "2", "recipients": "it@acme.example"},
        )
        assert sent.status_code == 303, sent.text
        (quote,) = await quotes.find(csn=ACME)
    assert refused.status_code == 409 and 'id="recipients-error">refused (R04)' in refused.text
    assert zero.status_code == 422 and "seats" in zero.text
    assert (quote.kind, quote.currency, quote.state, quote.recipients) == (
        QuoteKind.NEW,
        "EUR",
        QuoteState.SENT,
        ["it@acme.example"],
    )
    assert [(line.product, line.seats, line.subscription_id) for line in quote.lines] == [("Maya", 2, None)]
    assert quote.lines[0].promotion == "MAYANEW"  # R11: the new-purchase promotion applies
