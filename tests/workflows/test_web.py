"""The buyer app against a real worker on the time-skipping server: R13 links, R14 quotes page, 403s, CSRF."""

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import QuoteState
from tests.helpers import (
    BASE,
    CARD,
    charges,
    form_fields,
    link_of,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    settled,
    skip,
)
from web.app import create_app
from workers.demo_data import ACME

pytestmark = pytest.mark.asyncio(loop_scope="session")


def browser(quotes, settings, gateway) -> httpx.AsyncClient:
    app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def sent_quote(env, pool, settings, quotes, *subs: str):
    quote = await quotes.create(request(*subs), send=True)
    await settled(env.client, quote.number)
    return quote


async def test_r13_email_link_accept_and_pay(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        page = await web.get(link_of(mailbox, quote.number))
        assert page.status_code == 200
        for text in (quote.number, "€9,135.00", "RENEW10", "-€1,015.00", "Accept and pay", "sent"):
            assert text in page.text
        token = form_fields(page.text, f"/quotes/{quote.number}/accept")["token"]
        pay_page = await web.get(f"/quotes/{quote.number}/pay", params={"token": token})
        fields = form_fields(pay_page.text, f"/quotes/{quote.number}/pay")
        paid = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD, follow_redirects=True)
        assert paid.status_code == 200 and "is paid" in paid.text and 'id="state">paid' in paid.text
        shown = await quotes.show(quote.number)
        assert shown.state is QuoteState.PAID and shown.payment_reference.startswith("ch_fake_")
        again = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD, follow_redirects=True)
        assert "is paid" in again.text
        assert await scalar(pool, "SELECT count(*) FROM payments") == 1
        assert (await charges(pool, quote.number), gateway.charge_calls[f"quote-{quote.number}"]) == (1, 1)


async def test_accept_then_refusal_in_plain_words(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        page = await web.get(link_of(mailbox, quote.number))
        fields = form_fields(page.text, f"/quotes/{quote.number}/accept")
        accepted = await web.post(f"/quotes/{quote.number}/accept", data=fields, follow_redirects=True)
        assert "Quote accepted" in accepted.text and (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        await quotes.cancel(quote.number, "sales")
        refused = await web.post(f"/quotes/{quote.number}/accept", data=fields)
        assert refused.status_code == 409 and "was cancelled" in refused.text


async def test_expired_quote_link_is_refused(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        signer = LinkSigner(settings.require_link_secrets())
        old = signer.quote_token(quote.number, "buyer@acme.example", datetime.now(UTC) - timedelta(seconds=1))
        page = await web.get(f"/quotes/{quote.number}", params={"token": old})
        assert page.status_code == 403 and "expired" in page.text


async def test_403_without_token_tampered_or_another_quotes(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        one = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        two = await sent_quote(env, pool, settings, quotes, "SUB-1003")
        token = link_of(mailbox, one.number).split("token=")[1]
        assert (await web.get(f"/quotes/{one.number}")).status_code == 403
        assert (await web.get(f"/quotes/{one.number}", params={"token": token[:-2] + "xx"})).status_code == 403
        assert (await web.get(f"/quotes/{two.number}", params={"token": token})).status_code == 403
        other = LinkSigner("another secret").quote_token(
            one.number, "x@y.example", datetime.now(UTC) + timedelta(days=1)
        )
        assert (await web.get(f"/quotes/{one.number}", params={"token": other})).status_code == 403
        forged = await web.post(f"/quotes/{two.number}/accept", data={"token": token, "csrf": "x"})
        assert forged.status_code == 403
        assert (await quotes.show(two.number)).state is QuoteState.SENT


async def test_csrf_refused(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        page = await web.get(link_of(mailbox, quote.number))
        fields = form_fields(page.text, f"/quotes/{quote.number}/accept")
        no_csrf = await web.post(f"/quotes/{quote.number}/accept", data={"token": fields["token"]})
        wrong = await web.post(f"/quotes/{quote.number}/accept", data=fields | {"csrf": "0" * 64})
        cross_site = await web.post(
            f"/quotes/{quote.number}/accept", data=fields, headers={"Origin": "https://evil.example"}
        )
        assert [no_csrf.status_code, wrong.status_code, cross_site.status_code] == [403, 403, 403]
        assert (await quotes.show(quote.number)).state is QuoteState.SENT


async def test_card_data_never_reaches_history_or_store(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        token = link_of(mailbox, quote.number).split("token=")[1]
        pay_page = await web.get(f"/quotes/{quote.number}/pay", params={"token": token})
        bad = await web.post(
            f"/quotes/{quote.number}/pay",
            data=form_fields(pay_page.text, f"/quotes/{quote.number}/pay")
            | CARD
            | {"card_number": "4242 4242 4242 4241"},
        )
        assert bad.status_code == 422 and "not valid" in bad.text
        await web.post(
            f"/quotes/{quote.number}/pay", data=form_fields(pay_page.text, f"/quotes/{quote.number}/pay") | CARD
        )
        history = await env.client.get_workflow_handle(f"quote-{quote.number}").fetch_history()
        digits = ("4242424242", "4242 4242")
        assert not any(d in history.to_json() for d in digits)
        assert await scalar(pool, "SELECT count(*) FROM quote_events WHERE detail::text LIKE %s", "%42424242%") == 0
        ledger = await rows(
            pool, "SELECT m.*, c.* FROM fake_gateway_methods m LEFT JOIN fake_gateway_charges c USING (token)"
        )
        stored = str(ledger) + str(await rows(pool, "SELECT * FROM payments"))
        assert len(ledger) == 1 and ledger[0]["brand"] == "visa" and not any(d in stored for d in digits)


async def test_r14_quotes_page_lists_active_quotes_with_actions(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        one = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        two = await sent_quote(env, pool, settings, quotes, "SUB-1003")
        draft = await quotes.create(request("SUB-1002"))
        body = next(m for m in mailbox.messages() if one.number in m["Subject"]).get_body(("plain",)).get_content()
        page_link = re.search(r"http://localhost:8000(/customers/\S+)", body).group(1)
        page = await web.get(page_link)
        assert page.status_code == 200
        assert one.number in page.text and two.number in page.text and draft.number not in page.text
        fields = form_fields(page.text, f"/quotes/{two.number}/accept")
        accepted = await web.post(f"/quotes/{two.number}/accept", data=fields, follow_redirects=True)
        assert "Quote accepted" in accepted.text
        other = LinkSigner(settings.require_link_secrets()).customer_token(
            "5100000003", "buyer@acme.example", datetime.now(UTC) + timedelta(days=1)
        )
        assert (await web.get(f"/customers/{ACME}/quotes", params={"token": other})).status_code == 403


def quotes_page_link(mailbox, number: str) -> str:
    """The buyer's quotes page (R14), as linked from the email of quote `number`."""
    message = next(m for m in mailbox.messages() if number in m["Subject"] and m["To"] == "buyer@acme.example")
    return re.search(r"http://localhost:8000(/customers/\S+)", message.get_body(("plain",)).get_content()).group(1)


def listed(page: str) -> set[str]:
    """The quote numbers the quotes page lists as active."""
    return set(re.findall(r">Quote (Q-\d+)</a>", page))


async def test_r14_buyer_accepts_and_pays_from_the_quotes_page_then_it_no_longer_lists_it(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        other = await sent_quote(env, pool, settings, quotes, "SUB-1003")
        page_link = quotes_page_link(mailbox, quote.number)
        page = await web.get(page_link)
        assert page.status_code == 200 and listed(page.text) == {quote.number, other.number}
        fields = form_fields(page.text, f"/quotes/{quote.number}/accept")
        accepted = await web.post(f"/quotes/{quote.number}/accept", data=fields, follow_redirects=True)
        assert "Quote accepted" in accepted.text and (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        page = await web.get(page_link)
        assert listed(page.text) == {quote.number, other.number}
        # The quotes page's own "Accept and pay" for this quote, its pay form, a card.
        pay_link = re.search(rf'href="(/quotes/{quote.number}/pay\?token=[^"]+)"', page.text).group(1)
        pay_page = await web.get(html.unescape(pay_link))
        assert pay_page.status_code == 200
        card = form_fields(pay_page.text, f"/quotes/{quote.number}/pay") | CARD
        paid = await web.post(f"/quotes/{quote.number}/pay", data=card, follow_redirects=True)
        assert paid.status_code == 200 and "is paid" in paid.text
        assert (await quote_result(env.client, quote.number)).state is QuoteState.PAID
        shown = await quotes.show(quote.number)
        assert (shown.state, shown.total, shown.currency) == (QuoteState.PAID, Decimal("9135.00"), "EUR")
        after = await web.get(page_link)
        assert after.status_code == 200 and listed(after.text) == {other.number}
    charged = await rows(
        pool, "SELECT idempotency_key, charge_id, amount, currency, refunded_at FROM fake_gateway_charges"
    )
    assert charged == [
        {
            "idempotency_key": f"quote-{quote.number}",
            "charge_id": shown.payment_reference,
            "amount": shown.total,
            "currency": "EUR",
            "refunded_at": None,
        }
    ]
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}
    paid_rows = await rows(pool, "SELECT quote_number, reference, amount, currency, refunded_at FROM payments")
    assert paid_rows == [
        {
            "quote_number": quote.number,
            "reference": shown.payment_reference,
            "amount": shown.total,
            "currency": "EUR",
            "refunded_at": None,
        }
    ]


async def test_r14_cancelled_and_expired_quotes_leave_the_active_quotes_for_the_ended_ones(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        expiring = await sent_quote(env, pool, settings, quotes, "SUB-1002")
        cancelled = await sent_quote(env, pool, settings, quotes, "SUB-1003")
        page_link = quotes_page_link(mailbox, expiring.number)
        assert listed((await web.get(page_link)).text) == {expiring.number, cancelled.number}
        await quotes.cancel(cancelled.number, "sales")
        assert (await quote_result(env.client, cancelled.number)).state is QuoteState.CANCELLED
        assert listed((await web.get(page_link)).text) == {expiring.number}
        await skip(env, expiring.number, timedelta(days=30))
        assert (await quote_result(env.client, expiring.number)).state is QuoteState.EXPIRED
        page = await web.get(page_link)
        assert page.status_code == 200
        assert not {expiring.number, cancelled.number} & listed(page.text)
        ended = page.text[page.text.index('id="ended"') :]
        assert f'id="ended-{expiring.number}"' in ended and f'id="ended-{cancelled.number}"' in ended


async def pay_form(web, mailbox, number: str) -> dict[str, str]:
    token = link_of(mailbox, number).split("token=")[1]
    page = await web.get(f"/quotes/{number}/pay", params={"token": token})
    return form_fields(page.text, f"/quotes/{number}/pay")


async def test_r16_pay_form_submitted_twice_at_once_charges_once(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        fields = await pay_form(web, mailbox, quote.number)
        both = await asyncio.gather(
            *(web.post(f"/quotes/{quote.number}/pay", data=fields | CARD, follow_redirects=True) for _ in range(2))
        )
        assert [r.status_code for r in both] == [200, 200]
        assert all("is paid" in r.text for r in both)
    assert (await charges(pool, quote.number), gateway.charge_calls[f"quote-{quote.number}"]) == (1, 1)
    assert await scalar(pool, "SELECT count(*) FROM payments") == 1


async def test_r16_quote_cancelled_while_pay_form_open_is_never_charged(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        fields = await pay_form(web, mailbox, quote.number)
        await quotes.cancel(quote.number, "sales")
        refused = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD)
        assert refused.status_code == 409 and "was cancelled" in refused.text
        assert "Accept and pay" not in refused.text
    assert (await charges(pool, quote.number), gateway.charge_calls[f"quote-{quote.number}"]) == (0, 0)
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0


async def test_r16_declined_card_told_in_plain_words_quote_stays_accepted(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        fields = await pay_form(web, mailbox, quote.number)
        declined = await web.post(
            f"/quotes/{quote.number}/pay", data=fields | CARD | {"card_number": "4000 0000 0000 9995"}
        )
        assert declined.status_code == 402
        assert "Your card was declined: insufficient funds; nothing was charged" in declined.text
        assert "pay it with another card" in declined.text
        assert (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        paid = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD, follow_redirects=True)
        assert "is paid" in paid.text
    assert await charges(pool, quote.number) == 1


async def test_r16_superseded_quote_page_shows_why_instead_of_pay_buttons(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        loser = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        winner = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(winner.number, pay=True, reference="BANK-7")
        await quote_result(env.client, loser.number)
        page = await web.get(link_of(mailbox, loser.number))
        # R19: the ended quote's link shows only how it ended, with the reason, and no pay buttons.
        assert page.status_code == 410 and 'id="state">cancelled' in page.text
        assert f"no longer valid: superseded by {winner.number}" in page.text
        assert "Accept and pay" not in page.text and "EUR" not in page.text
        token = link_of(mailbox, loser.number).split("token=")[1]
        form = await web.get(f"/quotes/{loser.number}/pay", params={"token": token})
        assert form.status_code == 303 and form.headers["location"].startswith(f"/quotes/{loser.number}?")
    assert await charges(pool, loser.number) == 0


async def test_r20_a_card_whose_answer_is_lost_shows_payment_being_confirmed_then_paid(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """The buyer pays with a card whose charge answer is lost: the page says the payment is being confirmed
    and offers no second payment; once the provider answers by key, the quote is paid, charged once."""
    from tests.helpers import CountingGateway

    gateway = CountingGateway(pool, lost_for=timedelta(seconds=4))
    impatient = settings.model_copy(update={"payment_wait_seconds": 1.0})
    lost = CARD | {"card_number": "4000 0000 0000 5126"}
    async with quote_stack(env, pool, impatient, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        token = form_fields((await web.get(link_of(mailbox, quote.number))).text, f"/quotes/{quote.number}/accept")
        fields = form_fields(
            (await web.get(f"/quotes/{quote.number}/pay", params={"token": token["token"]})).text,
            f"/quotes/{quote.number}/pay",
        )
        pending = await web.post(f"/quotes/{quote.number}/pay", data=fields | lost)
        again = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD)
        assert await quote_result(env.client, quote.number)
        assert await charges(pool, quote.number) == 1
    assert pending.status_code == 202 and "being confirmed" in pending.text and "Accept and pay" not in pending.text
    assert again.status_code in (200, 409) and gateway.charge_calls[f"quote-{quote.number}"] >= 1
