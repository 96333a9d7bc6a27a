"""The buyer's account in a real browser (Debian's headless Chromium, R24): sign in from the emailed link,
bulk-renew a group leaving one out, renew one alone, see refusals where they belong, pay, and see the
subscriptions renewed with auto-renew back on (R03); in English and in Dutch. Each page is photographed
(tmp_path / "screenshots") and checked by axe-core: no serious or critical accessibility violation."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from babel.dates import format_date
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from services.account import AccountService
from services.subscriptions import SubscriptionService
from tests.e2e.test_web_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import CARD, free_port, quote_stack, settled, subscription_row, until
from web.app import create_app
from workers.demo_data import DE_VRIES

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]

BUYER = "buyer@acme.example"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}


@asynccontextmanager
async def served_account(
    env: WorkflowEnvironment, pool, settings, gateway, data=None
) -> AsyncIterator[tuple[str, object]]:
    """A worker and the buyer app with its account pages on a free port, as `renewals web` serves them:
    (the app's address, the quote service). `data` changes the demo data, as in `quote_stack`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"buyer_app_url": url})
    async with quote_stack(env, pool, settings, gateway=gateway, data=data) as quotes:
        signer = LinkSigner(settings.require_link_secrets())
        subs = SubscriptionService(env.client, pool, settings.temporal_task_queue)
        account = AccountService(env.client, pool, settings.temporal_task_queue, quotes, subs, signer, quotes.today)
        app = create_app(lambda: quotes, signer, lambda: gateway, account_factory=lambda: account)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.02)
            yield url, quotes
        finally:
            server.should_exit = True
            await serving


@asynccontextmanager
async def chromium() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


class Tour:
    """Each page seen: a full-page screenshot, numbered in the order of the walk, and axe-core's verdict."""

    SERIOUS = ("serious", "critical")

    def __init__(self, folder: Path) -> None:
        from axe_playwright_python.async_playwright import Axe

        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.axe = Axe()
        self.seen = 0

    async def look(self, page, name: str) -> None:
        self.seen += 1
        await page.screenshot(path=str(self.folder / f"{self.seen:02d}-{name}.png"), full_page=True)
        results = await self.axe.run(page)
        found = [v for v in results.response["violations"] if v["impact"] in self.SERIOUS]
        assert not found, f"{name} ({page.url}): " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in found
        )


async def sign_in_link(mailbox) -> str:
    """The link of the sign-in email to the buyer, once it arrived in the mail folder."""

    async def arrived():
        found = [m for m in mailbox.messages() if m["To"] == BUYER and "sign-in link" in m["Subject"]]
        return found[-1] if found else None

    message = await until(arrived, "the sign-in email", tries=400)
    body = message.get_body(("plain",)).get_content()
    return re.search(r"(http://127\.0\.0\.1:\d+/account/sign-in/\S+)", body).group(1)


async def sign_in(page, tour: Tour, url: str, mailbox, continue_button: str, label: str = "") -> None:
    """From /account into the account: the address, the emailed link, its one button."""
    await page.goto(f"{url}/account")
    await tour.look(page, f"sign-in{label}")
    await page.fill("#email", BUYER)
    await page.click("form[action='/account/sign-in'] button")
    await page.wait_for_selector("[role=status] h1")
    assert BUYER in await page.text_content("main")
    await tour.look(page, f"check-email{label}")
    await page.goto(await sign_in_link(mailbox))
    await tour.look(page, f"confirm{label}")
    await page.click(f"button:has-text('{continue_button}')")
    await page.wait_for_url(re.compile(rf"{url}/account/(subscriptions|customers)"))


async def fits(page) -> bool:
    """The page's table fits in its card (no scrolling inside it)."""
    return await page.eval_on_selector(
        "table.cards", "t => t.closest('.card').scrollWidth <= t.closest('.card').clientWidth"
    )


async def cell(page, sub_id: str, label: str) -> str:
    return (await page.text_content(f"#sub-{sub_id} td[data-label='{label}']")).strip()


def day(value: date, locale: str = "en") -> str:
    return format_date(value, format="medium", locale=locale)


async def test_r24_buyer_renews_in_bulk_and_alone_sees_refusals_and_pays_in_chromium(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    tour = Tour(tmp_path / "screenshots")
    async with served_account(env, pool, settings, gateway) as (url, quotes), chromium() as browser:
        before = {s: await subscription_row(pool, s) for s in ("SUB-1001", "SUB-1002", "SUB-1003", "SUB-1007")}
        context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
        page = await context.new_page()
        await sign_in(page, tour, url, mailbox, "Continue to your account")

        # The subscriptions: the customer's, each with its end date, auto-renew and whether it can be renewed.
        assert "Acme BV" in await page.text_content("main")
        assert await cell(page, "SUB-1001", "Ends") == day(before["SUB-1001"]["end_date"])
        assert await page.get_attribute("#sub-SUB-1002 button.switch", "aria-checked") == "false"
        assert "Not eligible (R10)" in await cell(page, "SUB-1006", "Renewal")
        assert await page.locator("text=SUB-2001").count() == 0
        assert await fits(page)
        await tour.look(page, "subscriptions")

        # On a phone the table becomes cards: no header row, each cell labelled.
        phone = await context.new_page()
        await phone.set_viewport_size(PHONE)
        await phone.goto(f"{url}/account/subscriptions")
        assert await phone.eval_on_selector("thead", "e => getComputedStyle(e).display") == "none"
        assert await phone.eval_on_selector("#sub-SUB-1001", "e => getComputedStyle(e).display") == "block"
        assert (await phone.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"]
        await tour.look(phone, "subscriptions-phone")
        await phone.close()

        # Bulk actions > Renew: the direct EUR group, SUB-1003 left out.
        await page.click("nav >> text=Bulk actions: Renew")
        await page.wait_for_url(f"{url}/account/renew")
        await tour.look(page, "renew-groups")
        group = page.locator("form.group", has=page.locator("#pick-SUB-1001"))
        assert "EUR · direct" in await group.locator("h2").text_content()
        await group.locator("#pick-SUB-1003").uncheck()
        await group.locator("button:has-text('Create quote')").click()
        await page.wait_for_url(re.compile(r".*/account/renew/review\?ids=.*"))
        lines = [await row.get_attribute("id") for row in await page.locator("tbody tr").all()]
        assert lines == ["line-SUB-1007", "line-SUB-1001", "line-SUB-1002"], lines
        await tour.look(page, "review")

        # SUB-1001's seats lowered, one recipient added, auto-renew paused; five more recipients are refused
        # next to the recipients (R04), and the form keeps what was typed.
        await page.fill("#seats-SUB-1001", "3")
        await page.select_option("#term-SUB-1002", "annual")
        await page.fill("#recipients", ", ".join(f"r{n}@acme.example" for n in range(1, 6)))
        await page.check("#pause")
        await page.click("button:has-text('Send quote')")
        await page.wait_for_selector("#recipients-error")
        assert (await page.text_content("#recipients-error")).startswith("refused (R04)")
        assert (await page.input_value("#recipients")).endswith("r4@acme.example, r5@acme.example")
        assert await page.input_value("#seats-SUB-1001") == "3"
        assert await page.get_attribute("#recipients", "aria-describedby") == "recipients-help recipients-error"
        await tour.look(page, "review-refused-recipients")
        assert await quotes.find(csn="5100000001") == []

        # One recipient kept: the quote is created and sent.
        await page.fill("#recipients", "finance@acme.example")
        await page.click("button:has-text('Send quote')")
        await page.wait_for_url(re.compile(r".*/account/quotes\?created=Q-\d+$"))
        (bulk,) = await quotes.find(csn="5100000001")
        assert {line.subscription_id: line.seats for line in bulk.lines} == {
            "SUB-1007": 2,
            "SUB-1001": 3,
            "SUB-1002": 3,
        }
        assert bulk.recipients == ["finance@acme.example"] and bulk.pause_auto_renew
        row = page.locator(f"#quote-{bulk.number}")
        assert "SUB-1007, SUB-1001, SUB-1002" in await row.text_content()
        total = f"€{bulk.total:,.2f}"
        assert await row.locator("td[data-label='Total']").text_content() == total
        assert await page.locator("[role=status]").text_content() == (
            f"Quote {bulk.number} is sent to you and its recipients."
        )
        await tour.look(page, "quotes-sent")

        # While the quote is open, auto-renew of its subscriptions is paused (R02): the switch is off.
        await page.click("nav >> text=Subscriptions and contracts")
        await page.wait_for_url(f"{url}/account/subscriptions")
        assert f"Paused while quote {bulk.number} is open" in await cell(page, "SUB-1001", "Auto-renew")
        assert await page.is_disabled("#sub-SUB-1001 button.switch")
        await tour.look(page, "subscriptions-paused")

        # R06: "Renew" on SUB-1003's row opens the review of that line alone; raised seats are refused
        # next to the line (R10), nothing is created; as it was, the quote is sent.
        await page.click("#sub-SUB-1003 a:has-text('Renew')")
        await page.wait_for_url(re.compile(r".*/account/renew/review\?ids=SUB-1003$"))
        assert await page.locator("tbody tr").count() == 1
        await page.fill("#seats-SUB-1003", "11")
        await page.click("button:has-text('Send quote')")
        await page.wait_for_selector("#error-SUB-1003")
        assert (await page.text_content("#error-SUB-1003")).startswith("refused (R10)")
        assert await page.get_attribute("#seats-SUB-1003", "aria-invalid") == "true"
        assert len(await quotes.find(csn="5100000001")) == 1
        await tour.look(page, "review-refused-seats")
        await page.fill("#seats-SUB-1003", "10")
        await page.click("button:has-text('Send quote')")
        await page.wait_for_url(re.compile(r".*/account/quotes\?created=Q-\d+$"))
        single = next(q for q in await quotes.find(csn="5100000001") if q.number != bulk.number)
        assert [(line.subscription_id, line.seats) for line in single.lines] == [("SUB-1003", 10)]
        assert await page.locator("table.cards").first.locator("tbody tr").count() == 2
        await tour.look(page, "quotes-two")

        # Accept and pay the bulk quote with the test card, on the quote's own page.
        await settled(env.client, bulk.number)
        await page.click(f"#quote-{bulk.number} a:has-text('Accept and pay')")
        await page.wait_for_url(re.compile(rf".*/quotes/{bulk.number}\?token=.*"))
        await tour.look(page, "quote")
        await page.click("a:has-text('Accept and pay')")
        await page.fill("#holder", CARD["holder"])
        await page.fill("#card_number", CARD["card_number"])
        await page.fill("#expiry", CARD["expiry"])
        await page.fill("#cvc", CARD["cvc"])
        await tour.look(page, "pay")
        await page.click("button[type=submit]")
        await page.wait_for_selector("text=the quote is paid")
        assert await page.text_content("#state") == "paid"
        await tour.look(page, "paid")

        # Renewed for a new term, SUB-1001 with its 3 seats, and auto-renew back to its value before the hold for
        # each (R03, amended): on for SUB-1001, off for SUB-1002 and SUB-1007 as they were; SUB-1003, left out,
        # is untouched.
        async def renewed():
            return (await subscription_row(pool, "SUB-1001"))["end_date"] != before["SUB-1001"]["end_date"]

        await until(renewed, "SUB-1001 renewed")
        await page.goto(f"{url}/account/subscriptions")
        for sub_id in ("SUB-1007", "SUB-1001", "SUB-1002"):
            end = before[sub_id]["end_date"]
            assert await cell(page, sub_id, "Ends") == day(end.replace(year=end.year + 1)), sub_id
            was = "true" if before[sub_id]["auto_renew"] else "false"
            assert await page.get_attribute(f"#sub-{sub_id} button.switch", "aria-checked") == was, sub_id
            assert not await page.is_disabled(f"#sub-{sub_id} button.switch")
            assert "Not eligible (R01)" in await cell(page, sub_id, "Renewal")
        assert await cell(page, "SUB-1001", "Seats") == "3"
        assert await cell(page, "SUB-1003", "Ends") == day(before["SUB-1003"]["end_date"])
        await tour.look(page, "subscriptions-renewed")

        await page.click("nav >> text=Quotes")
        ended = page.locator(f"#quote-{bulk.number}")
        assert ", reference" in await ended.text_content()
        assert await page.locator(f"#quote-{single.number} a:has-text('Accept and pay')").count() == 1
        await tour.look(page, "quotes-paid")

        # The emailed link, opened again: used up, said so.
        await page.goto(await sign_in_link(mailbox))
        await page.click("button:has-text('Continue to your account')")
        await page.wait_for_selector("text=used already or has expired")
        await tour.look(page, "link-used")
        await context.close()


async def test_r24_dutch_buyer_sees_dutch_pages_and_money_in_chromium(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    from web import i18n

    def nl(text: str) -> str:
        """The Dutch of an English text of the pages, from the catalog (which must have it)."""
        dutch = i18n.translations("nl").gettext(text)
        assert dutch != text, f"no Dutch for {text!r}"
        return dutch

    def buyer_of_two(data):
        """buyer@acme.example is De Vries's buyer contact too."""
        customers = [c.model_copy(update={"email": BUYER}) if c.csn == DE_VRIES else c for c in data.customers]
        return data.model_copy(update={"customers": customers})

    tour = Tour(tmp_path / "screenshots")
    async with (
        served_account(env, pool, settings, gateway, data=buyer_of_two) as (url, quotes),
        chromium() as browser,
    ):
        # The browser asks for Dutch (Accept-Language): the pages answer in Dutch.
        context = await browser.new_context(viewport=DESKTOP, locale="nl-NL")
        page = await context.new_page()
        await sign_in(page, tour, url, mailbox, nl("Continue to your account"), "-nl")
        # The buyer of two customers picks one.
        await page.wait_for_url(f"{url}/account/customers")
        assert await page.get_attribute("html", "lang") == "nl"
        assert await page.text_content("h1") == nl("Choose a customer")
        await tour.look(page, "customers-nl")
        await page.click("button:has-text('Acme BV')")
        await page.wait_for_url(f"{url}/account/subscriptions")
        assert await page.text_content("h1") == nl("Subscriptions and contracts")
        ends = (await subscription_row(pool, "SUB-1001"))["end_date"]
        assert await cell(page, "SUB-1001", nl("Ends")) == day(ends, "nl")
        assert await cell(page, "SUB-1003", nl("Term")) == nl("monthly")
        assert await fits(page)
        await tour.look(page, "subscriptions-nl")

        # Renew one subscription, lowering its seats, and read the quote's total the Dutch way.
        await page.click(f"#sub-SUB-1001 a:has-text('{nl('Renew')}')")
        await page.wait_for_url(re.compile(r".*/account/renew/review\?ids=SUB-1001$"))
        await tour.look(page, "review-nl")
        await page.fill("#seats-SUB-1001", "4")
        await page.click(f"button:has-text('{nl('Send quote')}')")
        await page.wait_for_url(re.compile(r".*/account/quotes\?created=Q-\d+$"))
        (quote,) = await quotes.find(csn="5100000001")
        total = await page.text_content(f"#quote-{quote.number} td.num")
        euros, cents = f"{quote.total:.2f}".split(".")
        assert total == f"€\xa0{int(euros):,}".replace(",", ".") + f",{cents}", total
        assert re.fullmatch(r"€\xa0\d{1,3}(\.\d{3})*,\d\d", total)
        await tour.look(page, "quotes-nl")

        # The quote opens in its customer's language, Acme's English (as its emails); the header's switch makes
        # it Dutch, on the same link. Then its table, the card form, a card error, and the receipt are Dutch.
        await settled(env.client, quote.number)
        await page.click(f"#quote-{quote.number} a:has-text('{nl('Accept and pay')}')")
        await page.wait_for_url(re.compile(rf".*/quotes/{quote.number}\?token=.*"))
        link = page.url
        assert await page.get_attribute("html", "lang") == "en" and await page.text_content("#state") == "sent"
        await tour.look(page, "quote-customers-language")
        await page.click("header button:has-text('Nederlands')")
        await page.wait_for_selector("header button:has-text('English')")
        assert page.url == link and await page.get_attribute("html", "lang") == "nl"
        assert await page.text_content("#state") == nl("sent")
        assert total in await page.text_content("tr.total")
        await tour.look(page, "quote-nl")
        await page.click(f"a:has-text('{nl('Accept and pay')}')")
        for field, value in CARD.items():
            await page.fill(f"#{field}", value)
        await page.fill("#expiry", "13/29")
        await page.click("button[type=submit]")
        await page.wait_for_selector("[role=alert]")
        assert await page.text_content("[role=alert]") == nl("Write the expiry date as MM/YY, for example 12/29.")
        await tour.look(page, "pay-refused-nl")
        for field, value in CARD.items():  # the card is never sent back to the browser: typed again
            await page.fill(f"#{field}", value)
        await page.click("button[type=submit]")
        await page.wait_for_selector(
            f"text={nl('Thank you: the quote is paid and your subscriptions are renewed. A confirmation is on its way.')}"
        )
        assert await page.text_content("#state") == nl("paid")
        await tour.look(page, "paid-nl")
        await page.goto(f"{url}/account/quotes")

        # The switch in the header: English, then back to Dutch, remembered over the browser's wish.
        await page.click("header button:has-text('English')")
        await page.wait_for_selector("h1:has-text('Active quotes')")
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.text_content(f"#quote-{quote.number} td.num") == f"€{quote.total:,.2f}"
        await tour.look(page, "quotes-en")
        await page.click("header button:has-text('Nederlands')")
        await page.wait_for_selector(f"h1:has-text('{nl('Active quotes')}')")
        await page.goto(f"{url}/account/renew")
        assert await page.get_attribute("html", "lang") == "nl"
        await tour.look(page, "renew-groups-nl")
        await context.close()
