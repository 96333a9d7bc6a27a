"""The landing page at `/`. `renewals dev` shows where everything of the stack is (web/dev_mail.py gives it
the development links) and what to do next with the demo quote, as it stands now; `renewals web` sends a
visitor to the buyer's account, where a buyer signs in."""

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain.errors import NotFound
from domain.quotes import Quote
from services.quotes import QuoteService
from web.dev_mail import dev_links, dev_page

router = APIRouter(include_in_schema=False)

# The quote `renewals dev` sends on a first start (workers/devstack.py).
DEMO_QUOTE = "Q-000001"


async def demo_quote(request: Request) -> Quote | None:
    """The demo quote as the store has it (no Temporal call), or None: not seeded, or not written yet."""
    quotes: QuoteService = request.app.state.quotes()
    try:
        return await quotes.read(DEMO_QUOTE)
    except NotFound:
        return None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    links = dev_links(request)
    if links is not None:
        return dev_page(request, "dev/home.html", links=links, demo=await demo_quote(request))
    if getattr(request.app.state, "account", None) is not None:
        return RedirectResponse("/account", status_code=303)
    raise HTTPException(404)
