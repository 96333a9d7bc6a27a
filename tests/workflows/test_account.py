"""The buyer's account over HTTP (R24, R05, R06, R10, R04): sign in by a one-time emailed link, a session
bound to one customer, bulk and single renewal with every refusal shown where it belongs and nothing made."""

import asyncio
import re
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import Origin, QuoteState
from services.account import AccountService
from services.subscriptions import SubscriptionService
from tests.helpers import BASE, form_fields, quote_stack, rows, scalar
from web.app import create_app
from web.security import PostLimit
from workers.demo_data import ACME, DE_VRIES

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUYER = "buyer@acme.example"


@asynccontextmanager
async def account_site(env: WorkflowEnvironment, pool, settings, gateway=None, data=None, limit=None):
    """A worker and the buyer app with its account pages, as `renewals web` serves them."""
    async with quote_stack(env, pool, settings, gateway=gateway, data=data) as quotes:
        signer = LinkSigner(settings.require_link_secrets())
        subs = SubscriptionService(env.client, pool, settings.temporal_task_queue)
        account = AccountService(env.client, pool, settings.temporal_task_queue, quotes, subs, signer, quotes.today)
        app = create_app(
            lambda: quotes, signer, lambda: gateway, account_factory=lambda: account, post_limit=limit or PostLimit()
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            yield quotes, web


async def ask_link(web: httpx.AsyncClient, email: str) -> httpx.Response:
    start = await web.get("/account")
    return await web.post("/account/sign-in", data={"email": email, **form_fields(start.text, "/account/sign-in")})


async def sign_in_link(mailbox, email: str, count: int = 1) -> str:
    """The path of the newest sign-in link emailed to `email`, once `count` of them arrived."""
    for _ in range(200):
        found = [m for m in mailbox.messages() if m["To"] == email and "sign-in link" in m["Subject"]]
        if len(found) >= count:
            body = found[-1].get_body(("plain",)).get_content()
            return re.search(r"http://localhost:8000(/account/sign-in/\S+)", body).group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no sign-in email to {email}")


async def signed_in(web: httpx.AsyncClient, mailbox, email: str = BUYER) -> httpx.Response:
    asked = await ask_link(web, email)
    assert asked.status_code == 200 and "Check your email" in asked.text
    link = await sign_in_link(mailbox, email)
    confirm = await web.get(link)
    assert confirm.status_code == 200
    return await web.post(link, data=form_fields(confirm.text, link))


async def test_r24_link_opens_the_account_once_with_a_private_session(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        assert (await web.get("/account/subscriptions")).headers["location"] == "/account"
        opened = await signed_in(web, mailbox)
        assert opened.status_code == 303 and opened.headers["location"] == "/account/subscriptions"
        cookie = opened.headers["set-cookie"]
        assert "renewals_account=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Max-Age=28800" in cookie
        # Neither the link's token nor the session is stored as such.
        session = web.cookies["renewals_account"]
        stored = await rows(pool, "SELECT * FROM account_sessions")
        assert len(stored) == 1 and session not in str(stored)
        page = await web.get("/account/subscriptions")
        assert page.status_code == 200 and "Acme" in page.text
        assert "/account/subscriptions/SUB-1001/renew" in page.text
        assert re.search(r"SUB-1004.*?Not eligible \(R01\): window opens", page.text, re.S)
        assert re.search(r"SUB-1006.*?Not eligible \(R10\): success plans", page.text, re.S)
        assert "SUB-2001" not in page.text  # another customer's


async def test_r24_a_used_link_does_not_open_again(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        link = await sign_in_link(mailbox, BUYER)
        confirm = await web.get(link)
        again = await web.post(link, data=form_fields(confirm.text, link))
        assert again.status_code == 403 and "used already or has expired" in again.text
        assert await scalar(pool, "SELECT count(*) FROM account_sessions") == 1


async def test_r24_an_expired_link_does_not_open(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await ask_link(web, BUYER)
        link = await sign_in_link(mailbox, BUYER)
        async with pool.connection() as conn:
            await conn.execute("UPDATE account_sign_ins SET expires_at = now() - interval '1 second'")
        confirm = await web.get(link)
        refused = await web.post(link, data=form_fields(confirm.text, link))
        assert refused.status_code == 403 and "expired" in refused.text
        assert await scalar(pool, "SELECT count(*) FROM account_sessions") == 0


async def stale_sign_ins_and_sessions(pool) -> None:
    """Sign-ins `old` (stopped 25 h ago) and `recent` (23 h); sessions `expired` and `ended` (25 h ago) and
    `open`: what retention deletes, and what it keeps."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO account_sign_ins (id, email, expires_at) VALUES ('old', %s, now() - interval '25 hours'),"
            " ('recent', %s, now() - interval '23 hours')",
            (BUYER, BUYER),
        )
        await conn.execute(
            "INSERT INTO account_sessions (id_hash, email, expires_at, ended_at) VALUES"
            " ('expired', %s, now() - interval '25 hours', NULL),"
            " ('ended', %s, now() + interval '1 hour', now() - interval '25 hours'),"
            " ('open', %s, now() + interval '1 hour', NULL)",
            (BUYER, BUYER, BUYER),
        )


async def test_r24_sign_ins_and_sessions_are_deleted_a_day_after_they_stopped_working(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """Nothing is kept that cannot be used: each sign-in deletes what expired or ended over a day ago, and
    keeps what still works or stopped only recently."""
    await stale_sign_ins_and_sessions(pool)
    async with account_site(env, pool, settings) as (_quotes, web):
        assert (await signed_in(web, mailbox)).status_code == 303
    kept = {r["id"] for r in await rows(pool, "SELECT id FROM account_sign_ins")}
    assert "old" not in kept and "recent" in kept and len(kept) == 2  # and the one just used
    hashes = {r["id_hash"] for r in await rows(pool, "SELECT id_hash FROM account_sessions")}
    assert {"expired", "ended"}.isdisjoint(hashes) and "open" in hashes and len(hashes) == 2


async def test_r24_a_tampered_link_is_refused(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await ask_link(web, BUYER)
        link = await sign_in_link(mailbox, BUYER)
        assert (await web.get(link[:-2] + "xx")).status_code == 403


async def test_r24_unknown_address_gets_the_same_answer_and_no_email(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        known = await ask_link(web, BUYER)
        unknown = await ask_link(web, "nobody@acme.example")
        assert (known.status_code, unknown.status_code) == (200, 200)
        strip = lambda text, email: text.replace(email, "")  # noqa: E731
        assert strip(known.text, BUYER) == strip(unknown.text, "nobody@acme.example")
        await sign_in_link(mailbox, BUYER)
        assert not [m for m in mailbox.messages() if m["To"] == "nobody@acme.example"]
        assert await scalar(pool, "SELECT count(*) FROM account_sign_ins WHERE email = 'nobody@acme.example'") == 0


async def test_r24_forms_without_their_csrf_field_change_nothing(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await web.get("/account")
        refused = await web.post("/account/sign-in", data={"email": BUYER})
        assert refused.status_code == 403
        assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 0
        await signed_in(web, mailbox)
        review = await web.get("/account/renew/review", params={"ids": "SUB-1001"})
        fields = {"ids": "SUB-1001"}
        assert (await web.post("/account/quotes", data=fields)).status_code == 403
        crafted = await web.post("/account/quotes", data=fields | {"csrf": "0" * 64})
        assert crafted.status_code == 403
        other_site = await web.post(
            "/account/quotes",
            data=fields | {"csrf": form_fields(review.text, "/account/quotes")["csrf"]},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert other_site.status_code == 403
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r24_sign_in_is_rate_limited_per_client_and_per_address(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    limit = PostLimit(per_sign_in_address=4, per_sign_in_email=2)
    async with account_site(env, pool, settings, limit=limit) as (_quotes, web):
        answers = [(await ask_link(web, BUYER)).status_code for _ in range(5)]
        assert answers == [200, 200, 200, 200, 429]
        await sign_in_link(mailbox, BUYER, count=2)
        await asyncio.sleep(0.5)
        assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 2


async def test_r24_another_customers_subscriptions_and_quotes_are_not_found(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    from tests.helpers import request

    async with account_site(env, pool, settings) as (quotes, web):
        theirs = await quotes.create(request("SUB-2001", csn=DE_VRIES), send=True)
        await signed_in(web, mailbox)
        for path in (
            "/account/subscriptions/SUB-2001/renew",
            "/account/renew/review?ids=SUB-2001",
            f"/account/quotes/{theirs.number}",
        ):
            assert (await web.get(path)).status_code == 404, path
        review = await web.get("/account/renew/review", params={"ids": "SUB-1001"})
        csrf = form_fields(review.text, "/account/quotes")["csrf"]
        crafted = await web.post("/account/quotes", data={"csrf": csrf, "ids": ["SUB-1001", "SUB-2001"]})
        assert crafted.status_code == 404
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 1


async def test_r05_bulk_renewal_leaving_one_out_lowering_seats_adding_a_recipient(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (quotes, web):
        await signed_in(web, mailbox)
        groups = await web.get("/account/renew")
        assert groups.status_code == 200
        # R05, R08: the direct EUR subscriptions in one group, the partner one in another.
        assert groups.text.count('action="/account/renew/review"') == 2
        review = await web.get("/account/renew/review", params={"ids": ["SUB-1001", "SUB-1003"]})
        assert "Acme" in review.text and "SUB-1002" not in review.text
        fields = form_fields(review.text, "/account/quotes")
        sent = await web.post(
            "/account/quotes",
            data={
                "csrf": fields["csrf"],
                "ids": ["SUB-1001", "SUB-1003"],
                "term-SUB-1001": "annual",
                "seats-SUB-1001": "3",
                "term-SUB-1003": "monthly",
                "seats-SUB-1003": "10",
                "recipients": "finance@acme.example",
                "pause": "on",
            },
        )
        assert sent.status_code == 303, sent.text
        (quote,) = await quotes.find(csn=ACME)
        assert sent.headers["location"] == f"/account/quotes?created={quote.number}"
        assert quote.origin is Origin.SELF_SERVICE and quote.state is QuoteState.SENT
        assert [(line.subscription_id, line.seats) for line in quote.lines] == [("SUB-1001", 3), ("SUB-1003", 10)]
        assert quote.recipients == ["finance@acme.example"] and quote.pause_auto_renew
        listed = await web.get(sent.headers["location"])
        assert quote.number in listed.text and "Accept and pay" in listed.text


async def test_r06_renew_one_opens_the_review_for_that_line(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        one = await web.get("/account/subscriptions/SUB-1002/renew", follow_redirects=True)
        assert one.status_code == 200
        assert 'name="ids" value="SUB-1002"' in one.text and 'value="SUB-1001"' not in one.text


async def review_form(web: httpx.AsyncClient, *ids: str) -> dict:
    review = await web.get("/account/renew/review", params={"ids": list(ids)})
    return {"csrf": form_fields(review.text, "/account/quotes")["csrf"], "ids": list(ids)}


async def test_r04_fifth_recipient_refused_next_to_the_recipients_nothing_created(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        five = ", ".join(f"r{i}@acme.example" for i in range(5))
        refused = await web.post("/account/quotes", data=await review_form(web, "SUB-1001") | {"recipients": five})
        assert refused.status_code == 409
        assert re.search(r'id="recipients-error">refused \(R04\)', refused.text)
        assert f">{five}</textarea>" in refused.text  # the form keeps what was typed
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r10_raised_seats_refused_next_to_the_line_nothing_created(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        form = await review_form(web, "SUB-1001", "SUB-1003") | {"seats-SUB-1001": "6"}
        refused = await web.post("/account/quotes", data=form)
        assert refused.status_code == 409
        assert re.search(r'id="error-SUB-1001">refused \(R10\)', refused.text)
        assert 'id="error-SUB-1003"' not in refused.text
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r05_two_groups_mixed_by_a_crafted_form_refused(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        refused = await web.post("/account/quotes", data=await review_form(web, "SUB-1001", "SUB-1008"))
        assert refused.status_code == 409 and "refused (R05)" in refused.text
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r24_buyer_of_several_customers_picks_one(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    def shared_buyer(data):
        customers = [c.model_copy(update={"email": BUYER}) if c.csn == DE_VRIES else c for c in data.customers]
        return data.model_copy(update={"customers": customers})

    async with account_site(env, pool, settings, data=shared_buyer) as (_quotes, web):
        opened = await signed_in(web, mailbox)
        assert (await web.get(opened.headers["location"])).headers["location"] == "/account/customers"
        picker = await web.get("/account/customers")
        assert "Acme" in picker.text and "De Vries" in picker.text
        csrf = form_fields(picker.text, "/account/customers")["csrf"]
        assert (await web.post("/account/customers", data={"csrf": csrf, "csn": "5100000003"})).status_code == 404
        picked = await web.post("/account/customers", data={"csrf": csrf, "csn": DE_VRIES}, follow_redirects=True)
        assert "SUB-2001" in picked.text and "SUB-1001" not in picked.text


async def test_r24_sign_out_ends_the_session(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        session = web.cookies["renewals_account"]
        page = await web.get("/account/subscriptions")
        out = await web.post("/account/sign-out", data=form_fields(page.text, "/account/sign-out"))
        assert out.status_code == 303
        web.cookies.set("renewals_account", session)  # the old cookie, kept by someone
        assert (await web.get("/account/subscriptions")).headers["location"] == "/account"


async def test_r02_auto_renew_switch_works_and_is_disabled_while_a_quote_holds_it(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    from tests.helpers import request, settled, start_calendars

    async with account_site(env, pool, settings) as (quotes, web):
        await start_calendars(env, pool, settings, "SUB-1001", "SUB-1002")
        await signed_in(web, mailbox)
        page = await web.get("/account/subscriptions")
        switch = form_fields(page.text, "/account/subscriptions/SUB-1002/auto-renew")
        assert switch["on"] == "on"  # it is off: the button turns it on
        assert (await web.post("/account/subscriptions/SUB-1002/auto-renew", data=switch)).status_code == 303
        assert (await scalar(pool, "SELECT auto_renew FROM subscriptions WHERE id = 'SUB-1002'")) is True
        held = await quotes.create(request("SUB-1001", seats={"SUB-1001": 4}), send=True)
        await settled(env.client, held.number)
        page = await web.get("/account/subscriptions")
        row = page.text[page.text.index('id="sub-SUB-1001"') :]
        row = row[: row.index("</tr>")]
        assert "disabled" in row and f"Paused while quote {held.number} is open" in row
        # Sent anyway (a crafted form): refused with its rule, shown on the line, nothing changed.
        fields = form_fields(page.text, "/account/subscriptions/SUB-1001/auto-renew")
        refused = await web.post("/account/subscriptions/SUB-1001/auto-renew", data=fields)
        assert refused.status_code == 409 and "refused (R02)" in refused.text
        assert (await scalar(pool, "SELECT auto_renew FROM subscriptions WHERE id = 'SUB-1001'")) is False


async def test_r14_quotes_page_shows_active_quotes_to_pay_and_how_ended_ones_ended(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    from tests.helpers import request, settled

    async with account_site(env, pool, settings) as (quotes, web):
        active = await quotes.create(request("SUB-1001"), send=True)
        paid = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(paid.number, pay=True, reference="BANK-77")
        cancelled = await quotes.create(request("SUB-1003"), send=True)
        await quotes.cancel(cancelled.number, "sales", actor="J. Jansen")
        for number in (active.number, paid.number, cancelled.number):
            await settled(env.client, number)
        await signed_in(web, mailbox)
        page = await web.get("/account/quotes")
        assert page.status_code == 200
        shown = page.text
        assert f'id="quote-{active.number}"' in shown and "Accept and pay" in shown
        assert re.search(rf'id="quote-{paid.number}".*?Paid on .*?, reference BANK-77', shown, re.S)
        assert re.search(rf'id="quote-{cancelled.number}".*?Cancelled by sales on ', shown, re.S)
        receipt = await web.get(f"/account/quotes/{paid.number}")
        assert receipt.status_code == 303 and f'href="/account/quotes/{paid.number}"' in shown
        assert "BANK-77" in (await web.get(receipt.headers["location"])).text
        opened = await web.get(f"/account/quotes/{active.number}")
        assert opened.status_code == 303 and opened.headers["location"].startswith(f"/quotes/{active.number}?token=")
        assert (await web.get(opened.headers["location"])).status_code == 200


async def test_r01_window_closed_while_the_review_was_open_refused_on_its_line(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    from datetime import timedelta

    async with account_site(env, pool, settings) as (quotes, web):
        await signed_in(web, mailbox)
        form = await review_form(web, "SUB-1007")
        quotes.today = quotes.today + timedelta(days=30)  # SUB-1007's window closes 25 days from now
        refused = await web.post("/account/quotes", data=form)
        assert refused.status_code == 409
        assert re.search(r'id="error-SUB-1007">refused \(R01\)', refused.text)
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r24_a_link_never_opens_for_an_address_that_is_no_longer_a_buyer_contact(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await ask_link(web, BUYER)
        link = await sign_in_link(mailbox, BUYER)
        async with pool.connection() as conn:
            await conn.execute("UPDATE customers SET email = 'new-buyer@acme.example' WHERE csn = %s", (ACME,))
        confirm = await web.get(link)
        refused = await web.post(link, data=form_fields(confirm.text, link))
        assert refused.status_code == 403 and "no longer a customer&#39;s buyer contact" in refused.text
        assert await scalar(pool, "SELECT count(*) FROM account_sessions") == 0


async def test_r24_behind_https_the_session_cookie_is_secure_and_pages_have_the_strict_headers(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        web.base_url = httpx.URL("https://buyer.test")
        opened = await signed_in(web, mailbox)
        assert "Secure" in opened.headers["set-cookie"]
        # A sibling subdomain can neither plant nor shadow a __Host- cookie.
        assert opened.headers["set-cookie"].startswith("__Host-renewals_account=")
        page = await web.get("/account/subscriptions")
        assert (
            page.headers["cache-control"] == "no-store"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
        assert page.headers["referrer-policy"] == "no-referrer"


async def test_r24_the_access_log_never_shows_a_sign_in_link() -> None:
    import logging

    from web.security import RedactQuery

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"', ("1.2.3.4", "GET", "/account/sign-in/abc.def"), None
    )
    RedactQuery().filter(record)
    assert "abc" not in record.getMessage() and "/account/sign-in/…" in record.getMessage()


async def test_r24_language_switch_is_remembered_and_needs_its_csrf_field(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        start = await web.get("/account")
        fields = form_fields(start.text, "/account/language")
        assert (await web.post("/account/language", data={"lang": "nl", "back": "/account"})).status_code == 303
        assert "renewals_lang" not in web.cookies  # no CSRF field: nothing changed
        switched = await web.post("/account/language", data=fields | {"lang": "nl"})
        assert switched.status_code == 303 and web.cookies["renewals_lang"] == "nl"
        assert '<html lang="nl">' in (await web.get("/account")).text


async def test_r10_seats_that_are_not_a_number_or_zero_are_shown_on_their_line(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        for seats in ("many", "0"):
            form = await review_form(web, "SUB-1001") | {"seats-SUB-1001": seats}
            refused = await web.post("/account/quotes", data=form)
            assert refused.status_code in (409, 422) and 'id="error-SUB-1001"' in refused.text, seats
        bad = await review_form(web, "SUB-1001") | {"recipients": "finance@acme.example, not-an-address"}
        refused = await web.post("/account/quotes", data=bad)
        assert refused.status_code in (409, 422) and 'id="recipients-error"' in refused.text
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_r24_send_quote_twice_makes_one_quote(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        review = await web.get("/account/renew/review", params={"ids": "SUB-1001"})
        fields = form_fields(review.text, "/account/quotes") | {"ids": "SUB-1001"}
        first = await web.post("/account/quotes", data=fields)
        second = await web.post("/account/quotes", data=fields)
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 1


async def test_r24_any_text_in_a_token_or_csrf_field_is_refused_not_an_error(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await web.get("/account")
        assert (await web.get("/account/sign-in/x.%C3%A9")).status_code == 403
        assert (await web.post("/account/sign-in", data={"email": BUYER, "csrf": "é"})).status_code == 403
        assert (await web.post("/account/language", data={"lang": "nl", "csrf": "é"})).status_code == 303
        await signed_in(web, mailbox)
        refused = await web.post("/account/quotes", data={"ids": "SUB-1001", "csrf": "é"})
        assert refused.status_code == 403


async def test_r24_account_forms_are_rate_limited_per_session(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings, limit=PostLimit(per_token=3)) as (_quotes, web):
        await signed_in(web, mailbox)
        form = await review_form(web, "SUB-1001") | {"seats-SUB-1001": "9"}  # refused (R10): nothing made
        answers = [(await web.post("/account/quotes", data=form)).status_code for _ in range(4)]
        assert answers == [409, 409, 409, 429]


async def test_r20_sign_in_while_temporal_is_down_answers_the_same_and_keeps_no_sign_in(pool, settings) -> None:
    from unittest.mock import AsyncMock

    from services.quotes import QuoteService

    client = AsyncMock()
    client.start_workflow.side_effect = RuntimeError("Temporal is down")
    quotes = QuoteService(client, pool, settings.temporal_task_queue)
    account = AccountService(
        client, pool, "q", quotes, SubscriptionService(client, pool, "q"), LinkSigner(settings.require_link_secrets())
    )
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO customers (csn, name, email, address) VALUES ('5100000001', 'Acme BV', %s, 'Main St 1')",
            (BUYER,),
        )
    with pytest.raises(RuntimeError):
        await account.request_sign_in(BUYER)
    assert await scalar(pool, "SELECT count(*) FROM account_sign_ins") == 0


async def test_r05_review_offers_per_line_only_the_terms_the_catalogue_prices(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        review = await web.get("/account/renew/review", params={"ids": ["SUB-1001", "SUB-1002"]})

        def offered(sub_id: str) -> list[str]:
            select = review.text[review.text.index(f'<select id="term-{sub_id}"') :]
            return re.findall(r'<option value="([^"]+)"', select[: select.index("</select>")])

        assert offered("SUB-1001") == ["monthly", "annual", "3-year"]
        assert offered("SUB-1002") == ["annual", "3-year"]  # Revit has no monthly price


async def test_r24_refusals_and_reasons_read_in_dutch_on_dutch_pages(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        web.headers["accept-language"] = "nl-NL,nl;q=0.9"
        page = await web.get("/account/subscriptions")
        assert re.search(r"SUB-1004.*?\(R01\): venster opent op", page.text, re.S)
        assert "successplannen kunnen niet in selfservice worden verlengd" in page.text
        five = ", ".join(f"r{i}@acme.example" for i in range(5))
        refused = await web.post("/account/quotes", data=await review_form(web, "SUB-1001") | {"recipients": five})
        assert "geweigerd (R04): een offerte gaat naar de inkoper" in refused.text
        raised = await web.post("/account/quotes", data=await review_form(web, "SUB-1001") | {"seats-SUB-1001": "9"})
        assert re.search(r'id="error-SUB-1001">geweigerd \(R10\): niet toegestaan in selfservice', raised.text)
