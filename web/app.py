"""The buyer web app: the pages router (web/pages.py), the quote PDF (web/documents.py) and the backend API
mounted at /api/v1 (web/api.py), behind the headers and limits of web/security.py. `renewals web` and
`renewals dev` serve it."""

from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from temporalio.service import RPCError

from domain.errors import NotFound, Stopped
from domain.links import LinkSigner
from payments.gateway import PaymentGateway
from runtime.app import open_app
from runtime.client import connect
from runtime.metrics import Metrics
from runtime.settings import Settings
from services.account import AccountService
from services.quotes import QuoteService
from web import account, home, metrics, pages, stripe_webhooks
from web.api import RateLimit, create_api
from web.documents import DEFAULT_VENDOR, Vendor, api_router, vendor_of
from web.documents import router as pdf_router
from web.input_guard import InputGuard
from web.security import BodyLimit, PostLimit, SecurityHeaders, redact_access_log
from web.security_headers import StrictTransportSecurity
from web.stripe_checkout import StripeCheckout, stripe_checkout_of

HERE = Path(__file__).parent


def create_app(
    quotes_factory: Callable[[], QuoteService],
    signer: LinkSigner,
    gateway_factory: Callable[[], PaymentGateway],
    lifespan=None,
    post_limit: PostLimit | None = None,
    api: FastAPI | None = None,
    body_limit: tuple[int, int] = (1 << 20, 64 << 10),
    account_factory: Callable[[], AccountService] | None = None,
    vendor: Vendor | None = None,
    stripe_webhook_secret: str | None = None,
    stripe_checkout: StripeCheckout | None = None,
    metrics_of: Metrics | None = None,
    metrics_token: str | None = None,
) -> FastAPI:
    """`quotes_factory()` gives the QuoteService (Temporal client and store) the pages act through;
    `gateway_factory()` the payment provider that turns a card into a token. The app never charges.
    `body_limit`: the largest body the API and the pages' forms take, in bytes; `account_factory()` the
    buyer's account service (R24), whose pages are served only when it is given; `vendor`, who the quote PDF
    is from (`vendor_of(settings)`, as the worker's emails have it); `stripe_webhook_secret`, with Stripe on,
    serves `POST /webhooks/stripe` (web/stripe_webhooks.py); `stripe_checkout`, with Stripe on, makes the pay
    page take the card in Stripe.js's field (web/stripe_checkout.py); `metrics_of`, the registry `/metrics` shows
    (its interceptor on the services' Temporal client counts their calls), `metrics_token` who else may read it."""
    app = FastAPI(title="Renewal quotes", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.quotes = quotes_factory
    app.state.signer = signer
    app.state.gateway = gateway_factory
    app.state.post_limit = post_limit or PostLimit()
    app.state.vendor = vendor or DEFAULT_VENDOR
    app.state.stripe_checkout = stripe_checkout
    app.state.metrics = metrics_of or Metrics()
    app.state.metrics_token = metrics_token
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if api is not None:
        api.include_router(api_router)
        app.mount("/api/v1", api)
    # Before the pages: `/quotes/{number}` would take `Q-000001.pdf` for a quote number.
    app.include_router(pdf_router)
    app.include_router(pages.router)
    app.include_router(home.router)
    app.include_router(metrics.router)
    if stripe_webhook_secret:
        app.state.stripe_webhook_secret = stripe_webhook_secret
        app.include_router(stripe_webhooks.router)
    if account_factory is not None:
        app.state.account = account_factory
        app.include_router(account.router)
    app.add_middleware(InputGuard, page=pages.unreadable, api_prefix="/api/")  # inside BodyLimit: bodies counted
    app.add_middleware(BodyLimit, api_bytes=body_limit[0], form_bytes=body_limit[1], api_prefix="/api/")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(StrictTransportSecurity)
    app.add_middleware(metrics.RequestMetrics, metrics=app.state.metrics)  # outermost: the whole request timed
    redact_access_log()

    @app.exception_handler(NotFound)
    async def not_found(request: Request, _err: NotFound) -> HTMLResponse:
        if request.url.path.startswith("/account"):
            return pages.message(request, 404, "Not found", "There is nothing here in your account.")
        return pages.message(request, 404, "No such quote", "This link does not lead to a quote.")

    @app.exception_handler(account.SignInRequired)
    async def sign_in_first(_request: Request, _err: account.SignInRequired) -> RedirectResponse:
        return RedirectResponse("/account", status_code=303)

    @app.exception_handler(account.PickCustomer)
    async def pick_first(_request: Request, _err: account.PickCustomer) -> RedirectResponse:
        return RedirectResponse("/account/customers", status_code=303)

    @app.exception_handler(pages.TooManyPosts)
    async def too_many(request: Request, _err: pages.TooManyPosts) -> HTMLResponse:
        text = "Too many attempts from this link or this address. Wait a minute, then try again."
        response = pages.message(request, 429, "Too many attempts", text)
        response.headers["retry-after"] = "60"
        return response

    @app.exception_handler(RPCError)
    @app.exception_handler(psycopg.OperationalError)
    async def down(request: Request, _err: Exception) -> HTMLResponse:
        text = "We cannot reach our systems just now. Nothing was changed; please try again in a few minutes."
        return pages.message(request, 503, "Not available right now", text)

    @app.exception_handler(Stopped)
    async def stopped(request: Request, _err: Stopped) -> HTMLResponse:
        text = "We could not complete this just now. Please try again later; if it keeps failing, contact your partner or sales."
        return pages.message(request, 503, "Not available right now", text)

    return app


def app_from_settings() -> FastAPI:
    """The app as `renewals web` serves it: the application built from the environment. The API keys are
    read here, once: a malformed RENEWALS_API_KEYS stops the start (exit 2), naming the entry."""
    settings = Settings.load()
    api_keys = settings.api_keys()
    state: dict = {}
    registry = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = await connect(settings, registry.with_sdk(), lazy=True, interceptors=[registry.interceptor()])
        async with open_app(settings, client=client) as application:
            state["app"] = application
            yield

    return create_app(
        lambda: state["app"].quotes,
        LinkSigner(settings.require_link_secrets()),
        lambda: state["app"].gateway,
        lifespan=lifespan,
        api=create_api(lambda: state["app"], api_keys, RateLimit(settings.api_rate_limit, settings.api_rate_burst)),
        body_limit=(settings.api_max_body_bytes, settings.form_max_body_bytes),
        account_factory=lambda: state["app"].account,
        vendor=vendor_of(settings),
        stripe_webhook_secret=settings.stripe_webhook_secret_if_on(),
        stripe_checkout=stripe_checkout_of(settings),
        metrics_of=registry,
        metrics_token=settings.metrics_token(),
    )
