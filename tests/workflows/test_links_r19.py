"""R19: a link opens one quote for one recipient; a contact's quotes page lists only what they were sent;
secrets rotate without breaking links already mailed; a quote's links die when it ends, except that a paid
quote's show its receipt."""

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.links import LinkRefused, LinkSigner, key_id
from domain.quotes import QuoteState
from runtime.settings import Settings
from runtime.temporal import build_worker
from tests.helpers import BASE, CARD, form_fields, quote_result, quote_stack, request, settled
from web.app import app_from_settings, create_app

session = pytest.mark.asyncio(loop_scope="session")
SOON = datetime.now(UTC) + timedelta(days=1)


def links_in(mailbox, number: str, recipient: str) -> list[str]:
    bodies = [
        m.get_body(("plain",)).get_content()
        for m in mailbox.messages()
        if number in m["Subject"] and m["To"] == recipient
    ]
    return [path for body in bodies for path in re.findall(r"http://localhost:8000(/\S+)", body)]


def test_r19_rotated_secrets_keep_old_links_and_sign_with_the_newest() -> None:
    old = LinkSigner("old-secret")
    mailed = old.quote_token("Q-000001", "buyer@acme.example", SOON)
    rotated = LinkSigner(["new-secret", "old-secret"])
    assert rotated.verify_quote(mailed, "Q-000001", datetime.now(UTC)) == "buyer@acme.example"
    rotated.check_csrf(mailed, old.csrf(mailed))
    fresh = rotated.quote_token("Q-000001", "buyer@acme.example", SOON)
    assert LinkSigner("new-secret").verify_quote(fresh, "Q-000001", datetime.now(UTC))
    assert URLSafeSerializer("").loads_unsafe(fresh)[1]["k"] == key_id("new-secret")
    with pytest.raises(LinkRefused):
        LinkSigner("new-secret").verify_quote(mailed, "Q-000001", datetime.now(UTC))


@session
async def test_r19_contact_link_never_lists_or_opens_another_quote(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    signer = LinkSigner(settings.require_link_secrets())
    app = create_app(lambda: quotes, signer, lambda: gateway)
    async with (
        quote_stack(env, pool, settings, gateway=gateway) as quotes,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web,
    ):
        shared = await quotes.create(request("SUB-1001", recipients=["CFO@acme.example"]), send=True)
        private = await quotes.create(request("SUB-1003", recipients=["it@acme.example"]), send=True)
        await settled(env.client, shared.number)
        await settled(env.client, private.number)
        cfo_quote, cfo_page = links_in(mailbox, shared.number, "CFO@acme.example")
        listed = (await web.get(cfo_page)).text
        assert shared.number in listed and private.number not in listed
        assert (await web.get(cfo_quote)).status_code == 200
        # A token for the CFO on a quote the CFO was not sent opens nothing, even correctly signed.
        foreign = signer.quote_token(private.number, "cfo@acme.example", SOON)
        opened = await web.get(f"/quotes/{private.number}", params={"token": foreign})
        assert opened.status_code == 403 and private.number not in opened.text.split("<h1>")[-1]
        assert (
            await web.post(f"/quotes/{private.number}/accept", data={"token": foreign, "csrf": signer.csrf(foreign)})
        ).status_code == 403
        _, buyer_page = links_in(mailbox, shared.number, "buyer@acme.example")
        everything = (await web.get(buyer_page)).text
        assert shared.number in everything and private.number in everything


@session
async def test_r19_a_quotes_link_dies_when_it_ends_but_a_paid_quotes_opens_its_receipt(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
    async with (
        quote_stack(env, pool, settings, gateway=gateway) as quotes,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web,
    ):
        quote = await quotes.create(request("SUB-1001"), send=True)
        cancelled = await quotes.create(request("SUB-1003"), send=True)
        await settled(env.client, quote.number)
        await settled(env.client, cancelled.number)
        link, _ = links_in(mailbox, quote.number, "buyer@acme.example")
        cancelled_link, _ = links_in(mailbox, cancelled.number, "buyer@acme.example")
        await quotes.cancel(cancelled.number, "sales")
        pay_page = await web.get(link.replace(f"/quotes/{quote.number}?", f"/quotes/{quote.number}/pay?"))
        paid = await web.post(
            f"/quotes/{quote.number}/pay", data=form_fields(pay_page.text, f"/quotes/{quote.number}/pay") | CARD
        )
        assert paid.status_code == 200 and "the quote is paid" in paid.text
        await quote_result(env.client, quote.number)
        receipt = await web.get(link)
        assert receipt.status_code == 200 and 'id="reference">' in receipt.text
        assert "Accept" not in receipt.text and "<form" not in receipt.text.split("<main>")[1]  # the header's: language
        dead = await web.get(cancelled_link)
        assert dead.status_code == 410 and "This link no longer opens the quote" in dead.text
        assert "€" not in dead.text and "Accept" not in dead.text
    confirmation = next(m for m in mailbox.messages() if m["Subject"].startswith(f"Paid: quote {quote.number}"))
    assert f"/quotes/{quote.number}?token=" not in confirmation.get_body(("plain",)).get_content()


def with_secrets(settings: Settings, secrets: str) -> Settings:
    """BUYER_LINK_SECRETS: comma-separated, newest first."""
    return settings.model_copy(update={"buyer_link_secret": None, "buyer_link_secrets": SecretStr(secrets)})


def signed_with(link: str) -> str:
    return URLSafeSerializer("").loads_unsafe(link.split("token=")[1])[1]["k"]


@asynccontextmanager
async def buyer_app(
    monkeypatch: pytest.MonkeyPatch, env: WorkflowEnvironment, settings: Settings, var: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The buyer app as `renewals web` builds it: its settings from the environment, here BUYER_LINK_SECRETS."""
    given = {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.require_database_url(),
        "BUYER_LINK_SECRETS": ",".join(settings.require_link_secrets()),
        "RENEWALS_VAR": str(var),
    }
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BUYER_LINK_SECRET", raising=False)
    app = app_from_settings()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web,
    ):
        yield web


class Rotation:
    """The worker before the rotation, then the one after it: a worker restarted with the new secrets."""

    def __init__(self, before: Callable[[], Worker], after: Callable[[], Worker]) -> None:
        self.running, self.after = before(), after

    async def __aenter__(self) -> "Rotation":
        await self.running.__aenter__()
        return self

    async def rotate(self) -> None:
        """The one worker of the task queue stopped, then the next built and started."""
        await self.running.__aexit__(None, None, None)
        self.running = self.after()
        await self.running.__aenter__()

    async def __aexit__(self, *exc) -> None:
        await self.running.__aexit__(*exc)


@session
async def test_r19_after_rotation_a_mailed_link_still_opens_new_links_use_the_newest_and_dropping_the_old_revokes(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, gateway, monkeypatch, tmp_path
) -> None:
    """A quote mailed with secret A; the worker and the app restarted with BUYER_LINK_SECRETS=B,A: the mailed
    link still opens and acts, a new quote's link is signed with B; the app with B alone refuses the old link
    and opens the new one. On the dev server, whose sticky queues time out (the test server's do not)."""
    env = dev_env
    old, new = f"secret-a-{uuid.uuid4().hex}", f"secret-b-{uuid.uuid4().hex}"
    before, rotated, only_new = (with_secrets(settings, s) for s in (old, f"{new},{old}", new))
    # A task for a quote the stopped worker had cached may still go to its sticky queue: given up on after 1 s.
    sticky = {"sticky_queue_schedule_to_start_timeout": timedelta(seconds=1)}
    workers = Rotation(
        lambda: build_worker(env.client, pool, before, gateway, **sticky),
        lambda: build_worker(env.client, pool, rotated, gateway, **sticky),
    )
    async with quote_stack(env, pool, before, worker=workers) as quotes:
        mailed = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, mailed.number)
        old_link, old_page = links_in(mailbox, mailed.number, "buyer@acme.example")
        await workers.rotate()
        fresh = await quotes.create(request("SUB-1003"), send=True)
        await settled(env.client, fresh.number)
        new_link, new_page = links_in(mailbox, fresh.number, "buyer@acme.example")
        assert (signed_with(old_link), signed_with(new_link)) == (key_id(old), key_id(new))

        async with buyer_app(monkeypatch, env, rotated, tmp_path / "var") as web:
            opened = await web.get(old_link)
            assert opened.status_code == 200 and mailed.number in opened.text and "Accept and pay" in opened.text
            fields = form_fields(opened.text, f"/quotes/{mailed.number}/accept")
            accepted = await web.post(f"/quotes/{mailed.number}/accept", data=fields, follow_redirects=True)
            assert "Quote accepted" in accepted.text
            assert (await quotes.show(mailed.number)).state is QuoteState.ACCEPTED
            listed = await web.get(old_page)
            assert listed.status_code == 200 and mailed.number in listed.text and fresh.number in listed.text
            assert (await web.get(new_link)).status_code == 200

        async with buyer_app(monkeypatch, env, only_new, tmp_path / "var") as web:
            revoked = await web.get(old_link)
            assert revoked.status_code == 403 and "The link is not valid" in revoked.text
            assert mailed.number not in revoked.text.split("<h1>")[-1]
            assert (await web.get(old_page)).status_code == 403
            opened = await web.get(new_link)
            assert opened.status_code == 200 and fresh.number in opened.text and "Accept and pay" in opened.text
            assert (await web.get(new_page)).status_code == 200
