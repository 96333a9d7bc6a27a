"""Buyer pages: a quote from its email link, a customer's active quotes, accept, accept and pay.

Every page needs a signed link (403 otherwise); every state change is a POST carrying a CSRF
field derived from the link, from this site's own pages, within a rate limit; each action is an
update on the quote's workflow, and its answer (or refusal) is shown in plain words. Headers and
logging that keep the link's token private are in web/security.py.
"""

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from domain.errors import BadInput, PaymentDeclined, Refused
from domain.links import LinkRefused, LinkSigner
from domain.money import format_money
from domain.quotes import Quote, QuoteState
from payments.gateway import Card
from runtime.app import open_app
from runtime.settings import Settings
from web.api import create_api
from web.security import PostLimit, SecurityHeaders, redact_access_log

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = lambda amount, currency: format_money(amount, currency)

DONE = {
    "accepted": "Quote accepted. You can pay it now or later, before it expires.",
    "paid": "Thank you: the quote is paid and your subscriptions are renewed. A confirmation is on its way.",
}
PLAIN = {
    "R15": "This quote has expired. Ask for a new quote.",
    "lifecycle": "This quote can no longer be changed.",
}


def now() -> datetime:
    return datetime.now(UTC)


def ended_text(quote: Quote) -> str:
    if quote.state is QuoteState.PAID:
        return "This quote is paid."
    if quote.state is QuoteState.EXPIRED:
        return PLAIN["R15"]
    if quote.cancel_reason:
        return (
            f"This quote is no longer valid: {quote.cancel_reason}. {quote.superseded_because}. "
            "Nothing was charged for it."
        )
    return "This quote was cancelled. Ask your partner or sales for a new one."


def refusal_text(err: Refused, quote: Quote) -> str:
    return ended_text(quote) if quote.state.terminal else PLAIN.get(err.rule, err.message)


def sent_to(quote: Quote, recipient: str) -> bool:
    """R19: a link opens only a quote its holder was sent (the buyer is sent every quote)."""
    return recipient.lower() in {r.lower() for r in quote.all_recipients}


class TooManyPosts(Exception):
    pass


def create_app(
    quotes_factory,
    signer: LinkSigner,
    gateway_factory,
    lifespan=None,
    post_limit: PostLimit | None = None,
    api: FastAPI | None = None,
) -> FastAPI:
    """`quotes_factory()` gives the QuoteService (Temporal client and store) the pages act through;
    `gateway_factory()` the payment provider that turns a card into a token. The app never charges."""
    app = FastAPI(title="Renewal quotes", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if api is not None:
        app.mount("/api/v1", api)
    app.add_middleware(SecurityHeaders)
    redact_access_log()
    post_limit = post_limit or PostLimit()

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def forbidden(request: Request, reason: str) -> HTMLResponse:
        return page(
            request,
            "message.html",
            403,
            title="This link does not work",
            message=f"{reason.capitalize()}. Use the link in your most recent quote email.",
        )

    def same_origin(request: Request) -> bool:
        """Another site's form fails here: browsers say where a POST comes from in Sec-Fetch-Site, or in
        Origin. With `Referrer-Policy: no-referrer` a same-site form's Origin is `null`; the CSRF field
        still has to match."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        source = request.headers.get("origin") or request.headers.get("referer")
        if source is None or source == "null":
            return True
        return urlsplit(source).netloc == request.headers.get("host")

    def quote_url(number: str, token: str, **extra) -> str:
        return f"/quotes/{number}?" + urlencode({"token": token, **extra})

    def ended(request: Request, quote: Quote, status: int, done: str | None = None) -> HTMLResponse:
        """R19: a quote's links die when it ends; they show only how it ended."""
        return page(request, "ended.html", status, quote=quote, message=ended_text(quote), done=done)

    def paid_or_ended(request: Request, quote: Quote) -> HTMLResponse:
        """After "Accept and pay": paid is a success, however many clicks it took; anything else ended it."""
        if quote.state is QuoteState.PAID:
            return ended(request, quote, 200, done=DONE["paid"])
        return ended(request, quote, 409)

    async def quote_for(number: str, token: str | None) -> Quote:
        """The quote this link opens, for its recipient; LinkRefused if it is not theirs."""
        recipient = signer.verify_quote(token, number, now())
        quote = await quotes_factory().show(number)
        if not sent_to(quote, recipient):
            raise LinkRefused("this link is not for this quote")
        return quote

    async def guarded_post(request: Request, number: str, token: str, csrf: str | None) -> Quote:
        if not await post_limit.allow(token, request.client.host if request.client else "unknown"):
            raise TooManyPosts()
        if not same_origin(request):
            raise LinkRefused("the form was sent from another site")
        quote = await quote_for(number, token)
        signer.check_csrf(token, csrf)
        return quote

    @app.get("/quotes/{number}", response_class=HTMLResponse)
    async def show_quote(request: Request, number: str, token: str = "", done: str | None = None):
        try:
            quote = await quote_for(number, token)
        except LinkRefused as err:
            return forbidden(request, str(err))
        if quote.state.terminal:
            return ended(request, quote, 410)
        return page(request, "quote.html", quote=quote, token=token, csrf=signer.csrf(token), done=DONE.get(done or ""))

    @app.post("/quotes/{number}/accept")
    async def accept(request: Request, number: str, token: str = Form(""), csrf: str = Form(None)):
        try:
            await guarded_post(request, number, token, csrf)
        except LinkRefused as err:
            return forbidden(request, str(err))
        service = quotes_factory()
        try:
            await service.accept(number)
        except (Refused, BadInput) as err:
            quote = await service.show(number)
            if quote.state.terminal:
                return ended(request, quote, 409)
            message = refusal_text(err, quote) if isinstance(err, Refused) else err.message
            return page(request, "quote.html", 409, quote=quote, token=token, csrf=signer.csrf(token), error=message)
        return RedirectResponse(quote_url(number, token, done="accepted"), status_code=303)

    @app.get("/quotes/{number}/pay", response_class=HTMLResponse)
    async def payment_form(request: Request, number: str, token: str = ""):
        try:
            quote = await quote_for(number, token)
        except LinkRefused as err:
            return forbidden(request, str(err))
        if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED):
            return RedirectResponse(quote_url(number, token), status_code=303)
        return page(request, "pay.html", quote=quote, token=token, csrf=signer.csrf(token), errors=[])

    @app.post("/quotes/{number}/pay")
    async def pay(
        request: Request,
        number: str,
        token: str = Form(""),
        csrf: str = Form(None),
        holder: str = Form(""),
        card_number: str = Form(""),
        expiry: str = Form(""),
        cvc: str = Form(""),
    ):
        """Accept and pay: the card goes to the gateway, which gives a token; the quote's workflow gets only
        the token, and charges it after it reserved every term (R16). A declined card leaves it accepted."""
        try:
            quote = await guarded_post(request, number, token, csrf)
        except LinkRefused as err:
            return forbidden(request, str(err))
        service = quotes_factory()
        if quote.state.terminal:
            return paid_or_ended(request, quote)
        try:
            card = Card(holder=holder, number=card_number, expiry=expiry, cvc=cvc)
        except ValidationError as err:
            errors = [e["msg"].removeprefix("Value error, ") for e in err.errors(include_url=False)]
            return page(request, "pay.html", 422, quote=quote, token=token, csrf=signer.csrf(token), errors=errors)
        if quote.state is QuoteState.DRAFT:
            return page(
                request, "quote.html", 409, quote=quote, token=token, csrf=signer.csrf(token), error=PLAIN["lifecycle"]
            )
        payment_method = await gateway_factory().tokenize(card)
        try:
            await service.accept(number, pay=True, payment_method=payment_method)
        except PaymentDeclined as err:
            quote = await service.show(number)
            message = (
                f"{err.message[:1].upper()}{err.message[1:]}. The quote is accepted: you can pay it with another card."
            )
            return page(request, "pay.html", 402, quote=quote, token=token, csrf=signer.csrf(token), errors=[message])
        except Refused as err:
            quote = await service.show(number)
            if quote.state.terminal:
                return paid_or_ended(request, quote)
            return page(
                request,
                "quote.html",
                409,
                quote=quote,
                token=token,
                csrf=signer.csrf(token),
                error=refusal_text(err, quote),
            )
        return paid_or_ended(request, await service.show(number))

    @app.get("/customers/{csn}/quotes", response_class=HTMLResponse)
    async def customer_quotes(request: Request, csn: str, token: str | None = None):
        """R14, R19: the active quotes sent to this contact (for the buyer, all of the customer's), each with
        its own signed link for the same contact."""
        try:
            recipient = signer.verify_customer(token, csn, now())
        except LinkRefused as err:
            return forbidden(request, str(err))
        active = [
            q
            for q in await quotes_factory().list(csn=csn)
            if q.state in (QuoteState.SENT, QuoteState.ACCEPTED) and sent_to(q, recipient)
        ]
        rows = []
        for quote in active:
            quote_token = signer.quote_token(quote.number, recipient, quote.expires_at or now() + timedelta(days=1))
            rows.append({"quote": quote, "token": quote_token, "csrf": signer.csrf(quote_token)})
        return page(request, "quotes.html", rows=rows, csn=csn, recipient=recipient)

    @app.exception_handler(TooManyPosts)
    async def too_many(request: Request, _err: TooManyPosts) -> HTMLResponse:
        response = page(
            request,
            "message.html",
            429,
            title="Too many attempts",
            message="Too many attempts from this link or this address. Wait a minute, then try again.",
        )
        response.headers["retry-after"] = "60"
        return response

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app


def app_from_settings():
    """The app as `renewals web` serves it: the application built from the environment."""
    settings = Settings.load()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with open_app(settings) as application:
            state["app"] = application
            yield

    return create_app(
        lambda: state["app"].quotes,
        LinkSigner(settings.require_link_secrets()),
        lambda: state["app"].gateway,
        lifespan=lifespan,
        api=create_api(lambda: state["app"], settings.api_keys),
    )
