"""`/api/v1`: the backend API for systems that do not shell out. The same services as the command line,
the same JSON as its `--json`; bearer API keys (RENEWALS_API_KEYS, read once when the app is built), each
with its rate limit; `Idempotency-Key` on quote creation; every list paged (`limit`, `starting_after`).

Errors: 422 `{"error": {"field", "message"}}` for bad input, 409 `{"error": {"rule", "message"}}` for a
refusal, 404 for an unknown quote, subscription or customer, 401 without a valid key, 429 with
`Retry-After` over a key's rate limit; nothing changed. 503 `{"error": {"message"}}` when a quote cannot go
on (see `renewals ops stuck`).
"""

import hmac
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.service import RPCError

from contracts.subscription import AutoRenewState
from documents import invoice_pdf
from domain.bank_transfer import checked_reference, is_rf
from domain.errors import BadInput, KeyReused, NotFound, Refused, Stopped
from domain.grouping import renewal_groups
from domain.json_views import GroupJson, InvoiceJson, QuoteJson, SubscriptionJson, group_json, subscription_json
from domain.models import MAX_LINES, Address, Csn, Currency, QuoteKind, Seats, SubscriptionId, Term
from domain.quote_rules import NewLine, QuoteRequest, Recipient
from domain.quotes import DeclineReason, Origin, PaymentReference, QuoteState
from domain.revisions import Revision
from runtime.app import App
from runtime.settings import ApiKey, Settings
from services.audit import AuditReport, window_start
from services.bank_transfers import Transfer, TransferResult, record_transfers
from services.invoices import InvoiceService
from store.loader import location
from web.api_docs import OPEN_PATHS, mount_docs
from web.deps import Application

T = TypeVar("T")


class Unauthorized(Exception):
    pass


class CreateQuote(BaseModel):
    """The options of `renewals quote create`, by the contract's names."""

    csn: Csn
    subscriptions: Annotated[list[SubscriptionId], Field(max_length=MAX_LINES)] = []
    exclude: Annotated[list[SubscriptionId], Field(max_length=MAX_LINES)] = []
    seats: dict[SubscriptionId, Seats] = {}
    terms: dict[SubscriptionId, Term] = {}
    recipients: Annotated[list[Recipient], Field(max_length=MAX_LINES)] = []
    origin: Literal["self-service", "partner", "sales"] = "self-service"
    kind: QuoteKind = QuoteKind.RENEWAL
    new: Annotated[list[NewLine], Field(max_length=MAX_LINES)] = []
    currency: Currency | None = None
    partner: Csn | None = None
    new_partner: Csn | None = None  # R25: a partner's or sales' renewal moves its subscriptions to this partner
    address: Address | None = None
    start_date: date | None = None
    new_credit_line: bool = False
    pause_auto_renew: bool = False
    send: bool = False

    def request(self) -> QuoteRequest:
        return QuoteRequest(
            csn=self.csn,
            subscription_ids=self.subscriptions,
            exclude=self.exclude,
            seats=self.seats,
            terms=self.terms,
            recipients=self.recipients,
            origin=Origin(self.origin),
            kind=self.kind,
            new_lines=self.new,
            currency=self.currency,
            partner_csn=self.partner,
            new_partner_csn=self.new_partner,
            address=self.address,
            start_date=self.start_date,
            new_credit_line=self.new_credit_line,
            pause_auto_renew=self.pause_auto_renew,
        )


class ReviseQuote(BaseModel):
    """The options of `renewals quote revise` (R23): what is not given is the original quote's."""

    subscriptions: Annotated[list[SubscriptionId], Field(max_length=MAX_LINES)] = []
    exclude: Annotated[list[SubscriptionId], Field(max_length=MAX_LINES)] = []
    seats: dict[SubscriptionId, Seats] = {}
    terms: dict[SubscriptionId, Term] = {}
    recipients: Annotated[list[Recipient], Field(max_length=MAX_LINES)] | None = None
    origin: Literal["self-service", "partner", "sales"] | None = None
    new: Annotated[list[NewLine], Field(max_length=MAX_LINES)] = []
    address: Address | None = None
    start_date: date | None = None
    pause_auto_renew: bool = False
    send: bool = False

    def revision(self) -> Revision:
        return Revision(
            subscription_ids=self.subscriptions,
            exclude=self.exclude,
            seats=self.seats,
            terms=self.terms,
            recipients=self.recipients,
            origin=Origin(self.origin) if self.origin else None,
            new_lines=self.new,
            address=self.address,
            start_date=self.start_date,
            pause_auto_renew=self.pause_auto_renew,
        )


def _rf_checked(reference: str | None) -> str | None:
    """R29: a reference meant as a creditor reference (RF..) must pass the ISO 11649 check."""
    if reference is None or not is_rf(reference):
        return reference
    try:
        return checked_reference(reference)
    except BadInput:
        raise ValueError("not a valid ISO 11649 reference (RF..)") from None


class Payment(BaseModel):
    reference: Annotated[PaymentReference, AfterValidator(_rf_checked)] | None = None
    payment_method: Annotated[str, Field(max_length=200)] | None = None


class Accept(Payment):
    pay: bool = False
    method: Literal["card", "bank_transfer"] | None = None  # R29: `bank_transfer` accepts, to be paid by transfer
    # R27: at most 35 printable characters, checked by the service (409 naming R27); longer than 200 is not one.
    purchase_order: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "Accept":
        if self.method == "bank_transfer" and (self.pay or self.reference or self.payment_method):
            raise ValueError("method bank_transfer accepts only; the transfer pays later with its reference")
        return self


class Answer(BaseModel):
    """R26: the buyer's answer to a sent or accepted quote; the quote's state does not change."""

    kind: Literal["changes_requested", "declined"]
    reason: DeclineReason | None = None  # a decline's: price, not-needed, other-supplier, wrong-details, other
    message: Annotated[str, Field(max_length=4000)]


class Extend(BaseModel):
    until: date  # the last day the quote is valid (UTC)


class Resend(BaseModel):
    to: Annotated[list[Recipient], Field(max_length=5)] = []  # none: every recipient


class Clone(BaseModel):
    origin: Literal["partner", "sales"] | None = None


class Cancel(BaseModel):
    as_: Literal["partner", "sales"] = Field(alias="as")


class AutoRenew(BaseModel):
    on: bool


class ErrorDetail(BaseModel):
    message: str
    rule: str | None = None
    field: str | None = None
    details: list[str] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "A body that is not JSON"),
        (401, "No or an unknown API key"),
        (403, "A read-only API key asked to change something"),
        (404, "An unknown quote, subscription or customer"),
        (409, "Refused by a rule (`rule` names it), or an Idempotency-Key reused with another body"),
        (422, "Bad input (`field` names it)"),
        (413, "A body larger than the API takes (1 MiB unless configured)"),
        (429, "Over this API key's rate limit (API_RATE_LIMIT a minute, per web process); `Retry-After` says when"),
        (
            503,
            "The quote or calendar cannot go on now, or Temporal or the store is not answering; `renewals ops stuck` says why",
        ),
    )
}


ERRORS[429]["headers"] = {
    "Retry-After": {"description": "Seconds to wait before the next request", "schema": {"type": "integer"}}
}
# Every list: `limit` at a time (at most MAX_PAGE, more is a 422), after the item `starting_after`.
PAGE, MAX_PAGE = 100, 200
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"How many at most (default {PAGE}, at most {MAX_PAGE})")]
NEXT_PAGE = {
    "Link": {
        "description": 'When there are more: `<URL of the next page>; rel="next"` (its `starting_after` is the last one here)',
        "schema": {"type": "string"},
    }
}


def error(status: int, **body) -> JSONResponse:
    return JSONResponse({"error": body}, status_code=status)


def _api_keys(request: Request) -> Sequence[ApiKey]:
    return request.app.state.api_keys


_bearer = HTTPBearer(auto_error=False)


def known_key(given: str, keys: Sequence[ApiKey]) -> ApiKey | None:
    """Bearer API keys (RENEWALS_API_KEYS), compared in constant time: every key is compared, whichever
    matches, and no comparison stops at the first differing byte."""
    found = None
    for key in keys:
        if hmac.compare_digest(given.encode(), key.key.encode()):
            found = key
    return found


@dataclass
class RateLimit:
    """A token bucket per API key name, in this process's memory (so per web process: N processes let
    a key do N times as much): `per_minute` requests a minute on average, up to `burst` at once."""

    per_minute: int
    burst: int
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # name: (tokens, when)

    def take(self, name: str) -> float:
        """0 when the request may go on (a token taken); else the seconds until a token is back."""
        now = self.clock()
        tokens, then = self.buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_minute / 60)
        if tokens >= 1:
            self.buckets[name] = (tokens - 1, now)
            return 0.0
        self.buckets[name] = (tokens, now)
        return (1 - tokens) * 60 / self.per_minute


def authorized(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    keys: Annotated[list[ApiKey], Depends(_api_keys)],
) -> None:
    """For the OpenAPI document and the routes' own check; ApiKeyGate has already turned strangers away."""
    if known_key(credentials.credentials if credentials else "", keys) is None:
        raise Unauthorized()


def client_of(request: Request) -> str:
    """The name of the API key the request came with."""
    key = request.scope.get("state", {}).get("api_key")
    return key.name if key else "default"


def actor_of(request: Request) -> str:
    """What the quote's events and an offline payment record as who asked: `api:<key name>`."""
    return f"api:{client_of(request)}"


class ApiKeyGate:
    """Every request but the docs needs a known key before its body is read: a stranger's body is never
    parsed (a large or malformed one gets the same 401 as any other). A key over its rate limit gets 429
    with Retry-After; a `read` key may only read (403). `keys` were parsed once, when the app was built."""

    OPEN = (*OPEN_PATHS, "/openapi.json")  # the docs page, its Swagger UI files (web/api_docs.py), the OpenAPI
    READS = ("GET", "HEAD", "OPTIONS")

    def __init__(self, app: ASGIApp, keys: Sequence[ApiKey], rate_limit: RateLimit) -> None:
        self.app, self.keys, self.rate_limit = app, tuple(keys), rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].removeprefix(scope.get("root_path", "")) not in self.OPEN:
            header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            scheme, _, given = header.partition(" ")
            key = known_key(given.strip(), self.keys) if scheme.lower() == "bearer" else None
            if key is None:
                await _unauthorized()(scope, receive, send)
                return
            wait = self.rate_limit.take(key.name)
            if wait:
                limited = error(429, message=f"the API key {key.name!r} is over its rate limit; try again later")
                limited.headers["retry-after"] = str(max(1, math.ceil(wait)))
                await limited(scope, receive, send)
                return
            if key.scope == "read" and scope["method"] not in self.READS:
                refusal = error(403, message=f"the API key {key.name!r} may only read")
                await refusal(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


def _unauthorized() -> JSONResponse:
    response = error(401, message="a valid API key is required: Authorization: Bearer <key>")
    response.headers["www-authenticate"] = "Bearer"
    return response


def _iso_day(value: Any) -> Any:
    """A day only as YYYY-MM-DD (pydantic would also take a number of seconds since 1970)."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("a day is YYYY-MM-DD")


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Day = Annotated[date, BeforeValidator(_iso_day)]


def page(request: Request, response: Response, items: list[T], limit: int, cursor: Callable[[T], str]) -> list[T]:
    """The first `limit` of `items` (asked for one more); when there are more, a `Link: <...>; rel="next"`
    header, the same request `starting_after` the last one of this page (Stripe's names, the list itself as
    the body, as the command line's --json)."""
    if len(items) <= limit:
        return items
    items = items[:limit]
    following = request.url.include_query_params(starting_after=cursor(items[-1]))
    response.headers["link"] = f'<{following}>; rel="next"'
    return items


class BankTransfer(BaseModel):
    """One credit on the vendor's bank statement (R29)."""

    reference: Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_rf_checked)]
    amount: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=4)]
    currency: Currency
    date: Day


class BankTransfers(BaseModel):
    transfers: Annotated[list[BankTransfer], Field(min_length=1, max_length=500)]


class BankTransferResults(BaseModel):
    results: list[TransferResult]


router = APIRouter(dependencies=[Depends(authorized)], responses=ERRORS)
PAGED: dict[int | str, dict[str, Any]] = {200: {"description": "A page of the list", "headers": NEXT_PAGE}}
# On quotes, `response_model_exclude_unset`: `cancelled_by` and `cancel_reason` only on a cancelled one.


@router.post("/quotes", status_code=201, response_model=QuoteJson, response_model_exclude_unset=True)
async def create_quote(
    request: Request,
    body: CreateQuote,
    app: Application,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """An Idempotency-Key is this API key's own, for 24 hours: the same key and body again give the same quote."""
    quote = await app.quotes.create(
        body.request(), send=body.send, idempotency_key=idempotency_key, client=client_of(request)
    )
    return quote.json_view()


@router.get("/quotes/{number}", response_model=QuoteJson, response_model_exclude_unset=True)
async def show_quote(number: str, app: Application) -> Any:
    return (await app.quotes.read(number)).json_view()


@router.get("/quotes", response_model=list[QuoteJson], response_model_exclude_unset=True, responses=PAGED)
async def list_quotes(
    request: Request,
    response: Response,
    app: Application,
    csn: Csn | None = None,
    state: QuoteState | None = None,
    limit: Limit = PAGE,
    starting_after: Annotated[str | None, Query(pattern=r"^Q-[0-9]{6,12}$")] = None,
) -> Any:
    """Oldest first, `limit` at a time after the quote `starting_after`; a `Link: <...>; rel="next"` header
    when there are more."""
    quotes = await app.quotes.find(csn, state.value if state else None, limit=limit + 1, starting_after=starting_after)
    return [q.json_view() for q in page(request, response, quotes, limit, lambda q: q.number)]


@router.post("/quotes/{number}/send", response_model=QuoteJson, response_model_exclude_unset=True)
async def send_quote(request: Request, number: str, app: Application) -> Any:
    return (await app.quotes.send(number, actor=actor_of(request))).json_view()


@router.post("/quotes/{number}/accept", response_model=QuoteJson, response_model_exclude_unset=True)
async def accept_quote(request: Request, number: str, app: Application, body: Accept | None = None) -> Any:
    """`{"pay": true}` accepts and pays (`method: card` too); `{"method": "bank_transfer"}` accepts, to be paid
    by bank transfer with the quote's RF reference (`transfer_reference`, R29)."""
    body = body or Accept()
    quote = await app.quotes.accept(
        number,
        pay=body.pay or body.method == "card",
        reference=body.reference,
        payment_method=body.payment_method,
        actor=actor_of(request),
        bank_transfer=body.method == "bank_transfer",
        purchase_order=body.purchase_order,
    )
    return quote.json_view()


@router.post("/quotes/{number}/pay", response_model=QuoteJson, response_model_exclude_unset=True)
async def pay_quote(request: Request, number: str, app: Application, body: Payment | None = None) -> Any:
    body = body or Payment()
    return (await app.quotes.pay(number, body.reference, body.payment_method, actor=actor_of(request))).json_view()


@router.post("/payments/bank-transfers", response_model=BankTransferResults)
async def bank_transfers(request: Request, body: BankTransfers, app: Application) -> Any:
    """R29: the transfers of a bank statement, each paying the quote its RF reference names if it brings the
    exact total. Every line is answered, in order: `paid`, `refused` (its rule, and the `difference` to the
    total), `unknown_reference` (never matched another way) or `already_paid` (the same line twice pays once)."""
    transfers = [Transfer(**line.model_dump()) for line in body.transfers]
    return BankTransferResults(results=await record_transfers(app.quotes, transfers, actor_of(request)))


@router.post("/quotes/{number}/revise", status_code=201, response_model=QuoteJson, response_model_exclude_unset=True)
async def revise_quote(number: str, body: ReviseQuote, app: Application) -> Any:
    """R23: a new draft (sent with `send`) with the original's lines and recipients and the changes given;
    sending it cancels the original. Refused for a buyer (R10), an ended quote, a second open revision."""
    return (await app.quotes.revise(number, body.revision(), send=body.send)).json_view()


@router.post("/quotes/{number}/answer", response_model=QuoteJson, response_model_exclude_unset=True)
async def answer_quote(request: Request, number: str, body: Answer, app: Application) -> Any:
    """R26, for the buyer: ask for changes, or decline with a reason. The answer is kept on the quote
    (`answers`), emailed to its maker and announced (`quote.changes_requested`, `quote.declined`)."""
    reason = body.reason.value if body.reason else None
    return (await app.quotes.answer(number, body.kind, body.message, reason, actor=actor_of(request))).json_view()


@router.post("/quotes/{number}/extend", response_model=QuoteJson, response_model_exclude_unset=True)
async def extend_quote(request: Request, number: str, body: Extend, app: Application) -> Any:
    """A sent or accepted quote valid until the end of `until`, never past its renewal window's close (R15)."""
    return (await app.quotes.extend(number, body.until, actor=actor_of(request))).json_view()


@router.post("/quotes/{number}/resend", response_model=QuoteJson, response_model_exclude_unset=True)
async def resend_quote(request: Request, number: str, app: Application, body: Resend | None = None) -> Any:
    """The quote's email again, to every recipient or the ones in `to` (each a recipient of the quote)."""
    to = (body or Resend()).to
    return (await app.quotes.resend(number, to, actor=actor_of(request))).json_view()


@router.post("/quotes/{number}/clone", response_model=QuoteJson, response_model_exclude_unset=True, status_code=201)
async def clone_quote(
    request: Request,
    number: str,
    app: Application,
    body: Clone | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """A new draft from an ended quote, every rule of creation checked again; `cloned_from` names the original.
    `origin`: who makes it (partner or sales; the original's unless given). An Idempotency-Key gives the same
    draft again, as on creation."""
    origin = Origin(body.origin) if body and body.origin else None
    quote = await app.quotes.clone(number, origin, idempotency_key=idempotency_key, client=client_of(request))
    return quote.json_view()


@router.post("/quotes/{number}/cancel", response_model=QuoteJson, response_model_exclude_unset=True)
async def cancel_quote(request: Request, number: str, body: Cancel, app: Application) -> Any:
    return (await app.quotes.cancel(number, body.as_, actor=actor_of(request))).json_view()


@router.get("/invoices", response_model=list[InvoiceJson], responses=PAGED)
async def list_invoices(
    request: Request,
    response: Response,
    app: Application,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    limit: Limit = PAGE,
    starting_after: Annotated[str | None, Query(pattern=r"^INV-[0-9]{4}-[0-9]{6}$")] = None,
) -> Any:
    """R28: the invoices and credit notes of a year (this year unless given), in number order, `limit` at a
    time after `starting_after`; a `Link: <...>; rel="next"` header when there are more."""
    found = await InvoiceService(app.pool).of_year(year, limit + 1, starting_after)
    return [i.json_view() for i in page(request, response, found, limit, lambda i: i.number)]


@router.get(
    "/invoices/{number}",
    response_model=InvoiceJson,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def show_invoice(request: Request, number: str, app: Application) -> Any:
    """R28: one invoice or credit note; with `Accept: application/pdf`, its PDF with the Factur-X XML inside."""
    invoice = await InvoiceService(app.pool).show(number)
    if "application/pdf" in request.headers.get("accept", ""):
        body = await run_in_threadpool(invoice_pdf.render, invoice)
        return Response(
            body,
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="{invoice_pdf.filename(invoice)}"'},
        )
    return invoice.json_view()


@router.get("/subscriptions", response_model=list[SubscriptionJson], responses=PAGED)
async def list_subscriptions(
    request: Request,
    response: Response,
    csn: Csn,
    app: Application,
    limit: Limit = PAGE,
    starting_after: Annotated[SubscriptionId | None, Query()] = None,
) -> Any:
    """The customer's subscriptions by end date, then id, `limit` at a time after the subscription
    `starting_after`; a `Link: <...>; rel="next"` header when there are more."""
    subs, holds = await app.subscriptions.of_customer(csn, limit=limit + 1, starting_after=starting_after)
    today = date.today()
    return [subscription_json(s, today, holds.get(s.id)) for s in page(request, response, subs, limit, lambda s: s.id)]


@router.get("/groups", response_model=list[GroupJson], responses=PAGED)
async def list_groups(
    request: Request,
    response: Response,
    csn: Csn,
    app: Application,
    limit: Limit = PAGE,
    starting_after: Annotated[str | None, Query(pattern=r"^[0-9]{4,16}/[A-Za-z0-9/_-]{1,80}$")] = None,
) -> Any:
    """The customer's renewal groups by key, `limit` at a time after the group `starting_after` (a key,
    `csn/currency/purchase method[/partner]`); a `Link: <...>; rel="next"` header when there are more."""
    subs, holds = await app.subscriptions.of_customer(csn)
    today = date.today()
    groups = [g for g in renewal_groups(subs, today) if starting_after is None or g.key > starting_after]
    return [group_json(g, today, holds) for g in page(request, response, groups[: limit + 1], limit, lambda g: g.key)]


@router.put("/subscriptions/{subscription_id}/auto-renew", response_model=AutoRenewState)
async def set_auto_renew(subscription_id: SubscriptionId, body: AutoRenew, app: Application) -> Any:
    return await app.subscriptions.set_auto_renew(subscription_id, body.on)


@router.get("/audit", response_model=AuditReport)
async def audit(
    app: Application,
    since: Annotated[
        Day | None,
        Query(description="Ask the payment provider about the quotes of this day on (default: AUDIT_WINDOW_DAYS ago)"),
    ] = None,
) -> Any:
    """`renewals ops audit`: money and terms reconciled; `clean` is false with each violation listed. The
    payment provider is asked only about the quotes accepted, paid, refunded or ended `since` that day
    (default: the last AUDIT_WINDOW_DAYS, 35 days), and about those still open; `since` in the report."""
    return await app.ops.audit(since=since or window_start(date.today(), app.settings.audit_window_days))


def allowed_methods(request: Request) -> list[str]:
    """The methods its OpenAPI document gives this request's path (HEAD with GET, as Starlette serves it)."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in operations}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def create_api(
    app_factory: Callable[[], App], api_keys: Sequence[ApiKey], rate_limit: RateLimit | None = None
) -> FastAPI:
    """The API as a sub-application of the buyer app, mounted at /api/v1 (its own OpenAPI and docs).
    `api_keys`: parsed once, before (`Settings.api_keys()`); `rate_limit`: each key's, by its name (default:
    API_RATE_LIMIT's and API_RATE_BURST's defaults)."""
    keys = tuple(api_keys)
    if not all(isinstance(key, ApiKey) for key in keys):
        raise TypeError("create_api takes the API keys parsed (Settings.api_keys(), runtime.settings.parse_api_keys)")
    api = FastAPI(title="Renewal quotes API", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    mount_docs(api)  # Swagger UI from the package, not a CDN (web/api_docs.py)
    api.state.application = app_factory
    api.state.api_keys = keys

    @api.exception_handler(Unauthorized)
    async def unauthorized(request: Request, _err: Unauthorized) -> JSONResponse:
        return _unauthorized()

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        # A body that is not JSON, an unknown route or method: the same error shape as every other answer,
        # with the exception's headers (a 405's `Allow`, as RFC 9110 has it).
        answer = error(err.status_code, message=str(err.detail))
        answer.headers.update(err.headers or {})
        if err.status_code == 405:  # every method of the path: Starlette names only those of the first route
            answer.headers["allow"] = ", ".join(allowed_methods(request))
        return answer

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        loc = [part for part in first["loc"] if part not in ("body", "query", "path")]
        return error(422, field=location(tuple(loc)), message=first["msg"])

    @api.exception_handler(NotFound)
    async def not_found(request: Request, err: NotFound) -> JSONResponse:
        return error(404, message=err.message)

    @api.exception_handler(Refused)
    async def refused(request: Request, err: Refused) -> JSONResponse:
        return error(409, rule=err.rule, message=err.message)

    @api.exception_handler(KeyReused)
    async def key_reused(request: Request, err: KeyReused) -> JSONResponse:
        return error(409, rule=None, message=str(err))

    @api.exception_handler(BadInput)
    async def bad_input(request: Request, err: BadInput) -> JSONResponse:
        return error(422, field=None, message=err.message, details=err.details)

    @api.exception_handler(Stopped)
    async def stopped(request: Request, err: Stopped) -> JSONResponse:
        return error(503, message=err.message)

    @api.exception_handler(RPCError)
    async def temporal_down(request: Request, err: RPCError) -> JSONResponse:
        return error(503, message=f"Temporal did not answer ({err.status.name if err.status else 'error'}); try again")

    @api.exception_handler(psycopg.OperationalError)
    async def store_down(request: Request, _err: psycopg.OperationalError) -> JSONResponse:
        return error(503, message="the store is not answering; try again")

    api.include_router(router)
    defaults = Settings.model_fields
    limit = rate_limit or RateLimit(defaults["api_rate_limit"].default, defaults["api_rate_burst"].default)
    api.add_middleware(ApiKeyGate, keys=keys, rate_limit=limit)
    return api
