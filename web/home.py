"""The landing page at `/`. `renewals dev` shows where everything of the stack is (web/dev_mail.py gives it
the development links); `renewals web` sends a visitor to the buyer's account, where a buyer signs in."""

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.dev_mail import dev_links, dev_page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    links = dev_links(request)
    if links is not None:
        return dev_page(request, "dev/home.html", links=links)
    if getattr(request.app.state, "account", None) is not None:
        return RedirectResponse("/account", status_code=303)
    raise HTTPException(404)
