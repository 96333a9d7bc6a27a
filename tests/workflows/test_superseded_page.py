"""A superseded quote's page names the quote that renewed its terms only to whoever that quote was sent to
(issue 20, item 9; R19): an extra recipient of the first quote who is not on the second reads "another quote"."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, quote_result, quote_stack, request, settled
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

ONLY_FIRST = "cfo@acme.example"
ON_BOTH = "it@acme.example"


async def test_superseded_quote_names_the_other_quote_only_to_its_recipients(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    signer = LinkSigner(settings.require_link_secrets())
    app = create_app(lambda: quotes, signer, lambda: gateway)
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        loser = await quotes.create(request("SUB-1001", recipients=[ONLY_FIRST, ON_BOTH]), send=True)
        await settled(env.client, loser.number)
        winner = await quotes.create(request("SUB-1001", recipients=[ON_BOTH]), send=True)
        await quotes.accept(winner.number, pay=True, reference="BANK-7")
        await quote_result(env.client, loser.number)
        assert (await quotes.show(loser.number)).cancel_reason == f"superseded by {winner.number}"

        expires = datetime.now(UTC) + timedelta(days=1)
        pages = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            for viewer in (ONLY_FIRST, ON_BOTH, loser.buyer_email):
                token = signer.quote_token(loser.number, viewer, expires)
                pages[viewer] = await web.get(f"/quotes/{loser.number}", params={"token": token})
            # A POST on the ended quote answers with how it ended: the same rule.
            token = signer.quote_token(loser.number, ONLY_FIRST, expires)
            fields = {"token": token, "csrf": signer.csrf(token)}
            posted = await web.post(f"/quotes/{loser.number}/accept", data=fields)

    for viewer, page in pages.items():
        assert page.status_code == 410, viewer
        assert "no longer valid: superseded by" in page.text, viewer
    hidden = pages[ONLY_FIRST].text
    assert winner.number not in hidden and "superseded by another quote" in hidden
    assert "was renewed by another quote" in hidden
    for viewer in (ON_BOTH, loser.buyer_email):  # the buyer is sent every quote
        assert f"superseded by {winner.number}" in pages[viewer].text, viewer
    assert posted.status_code == 409 and winner.number not in posted.text
    assert "superseded by another quote" in posted.text
