"""`/api/v1`: the backend API for systems that do not shell out. The same services as the command line,
the same JSON as its `--json`; bearer API keys; `Idempotency-Key` on quote creation.

Errors: 422 `{"error": {"field", "message"}}` for bad input, 409 `{"error": {"rule", "message"}}` for a
refusal, 404 for an unknown quote, subscription or customer, 401 without a valid key; nothing changed.
"""

import hmac
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from domain.errors import BadInput, KeyReused, NotFound, Refused
from domain.grouping import renewal_groups
from domain.json_views import group_json, subscription_json
from domain.models import MAX_LINES, Address, Csn, Currency, QuoteKind, Seats, SubscriptionId, Term
from domain.quote_rules import NewLine, QuoteRequest, Recipient
from domain.quotes import Origin, QuoteState
from runtime.app import App
from store.loader import location


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
            address=self.address,
            start_date=self.start_date,
            new_credit_line=self.new_credit_line,
            pause_auto_renew=self.pause_auto_renew,
        )


class Payment(BaseModel):
    reference: Annotated[str, Field(max_length=200)] | None = None
    payment_method: Annotated[str, Field(max_length=200)] | None = None


class Accept(Payment):
    pay: bool = False


class Cancel(BaseModel):
    as_: Literal["partner", "sales"] = Field(alias="as")


class AutoRenew(BaseModel):
    on: bool


def error(status: int, **body) -> JSONResponse:
    return JSONResponse({"error": body}, status_code=status)


def create_api(app_factory: Callable[[], App], api_keys: Callable[[], list[str]]) -> FastAPI:
    """The API as a sub-application of the buyer app, mounted at /api/v1 (its own OpenAPI and docs)."""
    api = FastAPI(title="Renewal quotes API", version="1", docs_url="/docs", openapi_url="/openapi.json")
    bearer = HTTPBearer(auto_error=False)

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not any(hmac.compare_digest(given, key.encode()) for key in api_keys()):
            raise Unauthorized()

    @api.exception_handler(Unauthorized)
    async def unauthorized(request: Request, _err: Unauthorized) -> JSONResponse:
        response = error(401, message="a valid API key is required: Authorization: Bearer <key>")
        response.headers["www-authenticate"] = "Bearer"
        return response

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

    guarded = [Depends(authorized)]

    @api.post("/quotes", dependencies=guarded, status_code=201)
    async def create_quote(body: CreateQuote, idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
        quote = await app_factory().quotes.create(body.request(), send=body.send, idempotency_key=idempotency_key)
        return quote.json_view()

    @api.get("/quotes/{number}", dependencies=guarded)
    async def show_quote(number: str):
        return (await app_factory().quotes.show(number)).json_view()

    @api.get("/quotes", dependencies=guarded)
    async def list_quotes(csn: Csn | None = None, state: QuoteState | None = None):
        quotes = await app_factory().quotes.list(csn, state.value if state else None)
        return [q.json_view() for q in quotes]

    @api.post("/quotes/{number}/send", dependencies=guarded)
    async def send_quote(number: str):
        return (await app_factory().quotes.send(number)).json_view()

    @api.post("/quotes/{number}/accept", dependencies=guarded)
    async def accept_quote(number: str, body: Accept | None = None):
        body = body or Accept()
        quote = await app_factory().quotes.accept(
            number, pay=body.pay, reference=body.reference, payment_method=body.payment_method
        )
        return quote.json_view()

    @api.post("/quotes/{number}/pay", dependencies=guarded)
    async def pay_quote(number: str, body: Payment | None = None):
        body = body or Payment()
        quote = await app_factory().quotes.pay(number, body.reference, body.payment_method)
        return quote.json_view()

    @api.post("/quotes/{number}/cancel", dependencies=guarded)
    async def cancel_quote(number: str, body: Cancel):
        return (await app_factory().quotes.cancel(number, body.as_)).json_view()

    @api.get("/subscriptions", dependencies=guarded)
    async def list_subscriptions(csn: Csn):
        subs, holds = await app_factory().subscriptions.of_customer(csn)
        today = date.today()
        return [subscription_json(s, today, holds.get(s.id)) for s in subs]

    @api.get("/groups", dependencies=guarded)
    async def list_groups(csn: Csn):
        subs, _ = await app_factory().subscriptions.of_customer(csn)
        today = date.today()
        return [group_json(g, today) for g in renewal_groups(subs, today)]

    @api.put("/subscriptions/{subscription_id}/auto-renew", dependencies=guarded)
    async def set_auto_renew(subscription_id: str, body: AutoRenew):
        state = await app_factory().subscriptions.set_auto_renew(subscription_id, body.on)
        return state.model_dump(mode="json")

    return api
