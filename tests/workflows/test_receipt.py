"""A paid quote's receipt and the ended quotes (R14, R19), against a real worker on the time-skipping server,
real PostgreSQL and real SMTP: the page the buyer lands on after paying, the quote's link opened later, in
English and Dutch; the quotes page listing paid, expired and cancelled quotes below the active ones, each
with how it ended, only to the contacts they were sent to."""

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from documents.i18n import day, moment, money
from domain.links import LinkSigner
from domain.models import PurchaseMethod, Term
from domain.quotes import Origin, Quote, QuoteLine, QuoteState
from store.loader import load
from store.quotes import ended_quotes_of, save_quote
from tests.helpers import BASE, CARD, form_fields, link_of, quote_result, quote_stack, request, settled, skip
from web.app import create_app
from web.pages import ENDED_SHOWN
from workers.demo_data import ACME, demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOON = datetime.now(UTC) + timedelta(days=1)


def browser(quotes, settings, gateway) -> httpx.AsyncClient:
    app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def emailed_links(mailbox, number: str, recipient: str) -> tuple[str, str]:
    """(the quote's link, the contact's quotes page) from the quote's email to `recipient`."""
    bodies = [
        m.get_body(("plain",)).get_content()
        for m in mailbox.messages()
        if number in m["Subject"] and m["To"] == recipient
    ]
    body = next(b for b in bodies if f"/quotes/{number}?token=" in b)
    quote_link, page_link = re.findall(r"http://localhost:8000(/\S+)", body)[:2]
    return quote_link, page_link


def text_of(page: str) -> str:
    """The page's words, without its tags."""
    return html.unescape(re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", page)))


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</div>", start)]


def assert_receipt(page: httpx.Response, quote: Quote, locale: str = "en") -> None:
    """The receipt: state paid, when and by which payment, every line with its new end date, the total; a
    link to the PDF and no action."""
    shown = text_of(page.text)
    assert 'class="state paid" id="state"' in page.text and quote.payment_reference and quote.paid_at
    assert re.search(r'<dd id="reference">\s*' + re.escape(quote.payment_reference), page.text)
    assert moment(quote.paid_at, locale) in section(page.text, "paid-on")
    assert money(quote.total, quote.currency, locale) in section(page.text, "paid-total")
    for line in quote.lines:
        assert line.product in shown and str(line.subscription_id) in shown
        assert day(line.new_end_date, locale) in shown
        assert money(line.amount, quote.currency, locale) in shown
        if line.promotion:
            assert line.promotion in shown and f"-{money(line.discount, quote.currency, locale)}" in shown
    assert f'href="/quotes/{quote.number}.pdf?token=' in page.text
    assert "<form" not in page.text.split("<main>")[1] and "/pay?" not in page.text and "/accept" not in page.text


async def test_r14_paid_quote_link_shows_the_receipt_with_reference_and_date(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await quotes.create(request("SUB-1001", recipients=["cfo@acme.example"]), send=True)
        await settled(env.client, quote.number)
        link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
        token = link.split("token=")[1]
        pay_page = await web.get(f"/quotes/{quote.number}/pay", params={"token": token})
        fields = form_fields(pay_page.text, f"/quotes/{quote.number}/pay")

        # The page the buyer lands on after "Accept and pay" is the receipt.
        paid = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD, follow_redirects=True)
        shown = await quotes.show(quote.number)
        assert paid.status_code == 200 and shown.state is QuoteState.PAID
        assert shown.payment_reference.startswith("ch_fake_") and shown.total == Decimal("9135.00")
        assert "Thank you: the quote is paid" in paid.text
        assert_receipt(paid, shown)
        assert "€9,135.00" in paid.text and "RENEW10" in paid.text and "-€1,015.00" in paid.text

        # The emailed link, opened later: the same receipt, without the thank-you; its PDF opens too.
        await quote_result(env.client, quote.number)
        later = await web.get(link)
        assert later.status_code == 200 and "Thank you" not in later.text
        assert_receipt(later, shown)
        pdf_link = html.unescape(re.search(r'href="(/quotes/[^"]+\.pdf\?token=[^"]+)"', later.text).group(1))
        pdf = await web.get(pdf_link)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"

        # In Dutch, switched to by this English customer's buyer: the catalog's words, Dutch money and dates.
        dutch = await web.get(link, headers={"Cookie": "renewals_lang=nl"})
        assert dutch.status_code == 200 and "Betaald op" in dutch.text and "Betalingskenmerk" in dutch.text
        assert_receipt(dutch, shown, "nl")
        assert "€\xa09.135,00" in dutch.text

        # R19: the other recipient's own link opens it; a link signed for someone it was not sent to does not.
        cfo_link, _ = emailed_links(mailbox, quote.number, "cfo@acme.example")
        assert_receipt(await web.get(cfo_link), shown)
        signer = LinkSigner(settings.require_link_secrets())
        stranger = await web.get(
            f"/quotes/{quote.number}", params={"token": signer.quote_token(quote.number, "it@acme.example", SOON)}
        )
        assert stranger.status_code == 403 and shown.payment_reference not in stranger.text

        # The pay form sent again (an old tab): the receipt, and no second charge.
        again = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD)
        assert again.status_code == 200 and shown.payment_reference in again.text
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}


async def test_r14_expired_and_cancelled_quote_links_still_say_only_how_they_ended(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        expiring = await quotes.create(request("SUB-1002"), send=True)
        cancelled = await quotes.create(request("SUB-1003"), send=True)
        await settled(env.client, cancelled.number)
        await quotes.cancel(cancelled.number, "sales")
        gone = await web.get(link_of(mailbox, cancelled.number))
        assert gone.status_code == 410 and 'id="state">cancelled' in gone.text
        assert "This link no longer opens the quote" in gone.text and "€" not in gone.text
        await skip(env, expiring.number, timedelta(days=30))
        assert (await quote_result(env.client, expiring.number)).state is QuoteState.EXPIRED
        # The emailed token expired with the quote: a link made before then, for the same buyer, still ends here.
        signer = LinkSigner(settings.require_link_secrets())
        token = signer.quote_token(expiring.number, "buyer@acme.example", datetime.now(UTC) + timedelta(days=400))
        over = await web.get(f"/quotes/{expiring.number}", params={"token": token})
        assert over.status_code == 410 and "This quote has expired" in over.text and "€" not in over.text


async def test_r14_quotes_page_lists_ended_quotes_below_active_ones(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        active = await quotes.create(request("SUB-1002"), send=True)
        paid = await quotes.create(request("SUB-1001"), send=True)
        cancelled = await quotes.create(request("SUB-1003"), send=True)
        for number in (active.number, paid.number, cancelled.number):
            await settled(env.client, number)
        await quotes.accept(paid.number, pay=True, reference="BANK-77")
        await quotes.cancel(cancelled.number, "sales")
        paid = await quotes.show(paid.number)
        cancelled = await quotes.show(cancelled.number)
        _, page_link = emailed_links(mailbox, active.number, "buyer@acme.example")

        page = await web.get(page_link)
        assert page.status_code == 200
        # The active quote with its actions first; below, the ended ones, the last to end first.
        assert page.text.index(f">Quote {active.number}</a>") < page.text.index('id="ended"')
        ended = page.text[page.text.index('id="ended"') :]
        assert re.findall(r'id="ended-(Q-\d+)"', ended) == [cancelled.number, paid.number]
        assert f"/quotes/{active.number}/pay?" in page.text and "/pay?" not in ended and "<form" not in ended
        rows = {n: text_of(section(ended, f"ended-{n}").split("</tr>")[0]) for n in (paid.number, cancelled.number)}
        assert f"Paid on {day(paid.paid_at.date(), 'en')}, reference BANK-77" in rows[paid.number]
        assert money(paid.total, "EUR", "en") in rows[paid.number]
        assert f"Cancelled by sales on {day(cancelled.ended_at.date(), 'en')}" in rows[cancelled.number]

        # The paid one links to its receipt, for the same contact.
        receipt_link = re.search(rf'href="(/quotes/{paid.number}\?token=[^"]+)"', ended).group(1)
        receipt = await web.get(html.unescape(receipt_link))
        assert receipt.status_code == 200
        assert_receipt(receipt, paid)
        assert f'href="/quotes/{cancelled.number}?' not in page.text

        # Dutch: how each ended, in Dutch.
        dutch = await web.get(page_link, headers={"Accept-Language": "nl"})
        assert f"Betaald op {day(paid.paid_at.date(), 'nl')}, kenmerk BANK-77" in text_of(dutch.text)
        assert "Geannuleerd door de verkoopafdeling op" in text_of(dutch.text)

        # Once the active one expires, it moves below too.
        await skip(env, active.number, timedelta(days=30))
        assert (await quote_result(env.client, active.number)).state is QuoteState.EXPIRED
        expired = await quotes.show(active.number)
        page = await web.get(page_link)
        assert f">Quote {active.number}</a>" not in page.text
        ended = page.text[page.text.index('id="ended"') :]
        assert re.findall(r'id="ended-(Q-\d+)"', ended) == [active.number, cancelled.number, paid.number]
        assert f"Expired on {day(expired.ended_at.date(), 'en')}" in text_of(section(ended, f"ended-{active.number}"))


async def test_r19_ended_quotes_of_another_contact_are_not_listed(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        shared = await quotes.create(request("SUB-1001", recipients=["CFO@acme.example"]), send=True)
        private = await quotes.create(request("SUB-1003", recipients=["it@acme.example"]), send=True)
        for quote in (shared, private):
            await settled(env.client, quote.number)
        await quotes.accept(shared.number, pay=True, reference="BANK-1")
        await quotes.accept(private.number, pay=True, reference="BANK-2")

        _, cfo_page = emailed_links(mailbox, shared.number, "CFO@acme.example")
        page = await web.get(cfo_page)
        assert page.status_code == 200
        assert f'id="ended-{shared.number}"' in page.text and "BANK-1" in page.text
        assert private.number not in page.text and "BANK-2" not in page.text
        # The CFO's receipt link is the CFO's own, for that quote only.
        receipt_link = html.unescape(re.search(rf'href="(/quotes/{shared.number}\?token=[^"]+)"', page.text).group(1))
        assert (await web.get(receipt_link)).status_code == 200
        assert (await web.get(receipt_link.replace(shared.number, private.number, 1))).status_code == 403

        # The customer's buyer was sent both, and sees both.
        _, buyer_page = emailed_links(mailbox, shared.number, "buyer@acme.example")
        everything = (await web.get(buyer_page)).text
        assert f'id="ended-{shared.number}"' in everything and f'id="ended-{private.number}"' in everything


def ended_quote(number: int, ended_at: datetime, recipients: list[str]) -> Quote:
    """A cancelled quote as the store keeps it, sent to the buyer and `recipients`."""
    return Quote(
        number=f"Q-{number:06d}",
        state=QuoteState.CANCELLED,
        origin=Origin.SALES,
        csn=ACME,
        customer_name="Acme BV",
        buyer_email="buyer@acme.example",
        address="Keizersgracht 1, Amsterdam",
        currency="EUR",
        purchase_method=PurchaseMethod.DIRECT,
        recipients=recipients,
        lines=[QuoteLine(subscription_id="SUB-1001", product="AutoCAD", seats=5, term=Term.ANNUAL)],
        cancelled_by="sales",
        ended_at=ended_at,
        revision=1,
    )


async def test_r14_the_quotes_page_lists_the_last_20_ended_quotes_the_last_to_end_first(pool) -> None:
    """A long history does not make the page long: the store gives the last ENDED_SHOWN to end, and only
    those the contact was sent (whatever the case of the address)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with pool.connection() as conn:
        await load(conn, demo_data(start.date()))
        for n in range(1, 31):
            # Numbered against the order they ended in; every third also to the CFO.
            recipients = ["cfo@acme.example"] if n % 3 == 0 else []
            await save_quote(conn, ended_quote(n, start + timedelta(days=31 - n), recipients), "cancelled")
        listed = await ended_quotes_of(conn, ACME, "Buyer@Acme.example", ENDED_SHOWN)
        assert ENDED_SHOWN == 20
        assert [q.number for q in listed] == [f"Q-{n:06d}" for n in range(1, 21)]
        cfo = await ended_quotes_of(conn, ACME, "cfo@acme.example", ENDED_SHOWN)
        assert [q.number for q in cfo] == [f"Q-{n:06d}" for n in range(3, 31, 3)]
        assert await ended_quotes_of(conn, ACME, "it@acme.example", ENDED_SHOWN) == []
        assert len(await ended_quotes_of(conn, ACME, None, ENDED_SHOWN)) == 20
