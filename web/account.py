"""The buyer's account (R05, R06, R14, R24): sign in by a one-time emailed link, then the customer's
subscriptions, bulk and single renewal, and quotes, through the same services as the API.

The session is a random cookie (HttpOnly, SameSite=Lax, Secure behind https, 8 hours) stored only as its
hash; every form carries a CSRF field bound to the session (or, before sign-in, to a random cookie); a
subscription or quote of another customer is a 404. Pages are English or Dutch (web/i18n.py).
"""

import logging
import re
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from domain.buyer_words import sent_to
from domain.errors import BadInput, KeyReused, NotFound, Refused
from domain.links import LinkRefused, LinkSigner
from domain.models import QuoteKind, Term
from domain.quotes import Quote, QuoteState
from services.account import SESSION_VALID, Account, AccountService, NewPurchase, QuoteLines, session_hash
from web import i18n
from web.deps import Limit, Signer
from web.pages import TooManyPosts, buyer_safe, link_until, now, page, same_origin
from web.security import PostLimit

SESSION = "renewals_account"
FORM = "renewals_form"
# Behind https the cookies take the __Host- prefix: a sibling subdomain cannot plant or shadow them.
HOST_ONLY = "__Host-"

router = APIRouter(prefix="/account", include_in_schema=False)
log = logging.getLogger(__name__)


class SignInRequired(Exception):
    """No session (or an ended one): the page sends the visitor to /account."""


class PickCustomer(Exception):
    """Signed in as the buyer of several customers, none picked yet."""


def _service(request: Request) -> AccountService:
    return request.app.state.account()


Service = Annotated[AccountService, Depends(_service)]


async def _signed_in(request: Request, service: Service) -> Account:
    account = await service.account(request.cookies.get(cookie(request, SESSION)))
    if account is None:
        raise SignInRequired()
    return account


async def _with_customer(account: Annotated[Account, Depends(_signed_in)]) -> Account:
    if account.csn is None:
        raise PickCustomer()
    return account


Signed = Annotated[Account, Depends(_signed_in)]
Buyer = Annotated[Account, Depends(_with_customer)]
Field = Annotated[str, Form()]


def render(request: Request, name: str, status: int = 200, account: Account | None = None, **context) -> HTMLResponse:
    """A page in the visitor's language, with the session's CSRF field (before sign-in, the language switch's
    is bound to the form cookie)."""
    locale = i18n.locale_of(request)
    signer: LinkSigner = request.app.state.signer
    csrf = signer.session_csrf(account.session) if account else None
    nonce = getattr(request.state, "form_nonce", None) or request.cookies.get(cookie(request, FORM))
    lang_csrf = csrf or (signer.session_csrf(nonce) if nonce else "")
    return page(
        request,
        name,
        status,
        account=account,
        csrf=csrf,
        lang_csrf=lang_csrf,
        refusal=lambda err: refusal_text(err, locale),
        **i18n.context(locale),
        **context,
    )


def refusal_text(err: Refused, locale: str) -> str:
    """A refusal with its rule: in English the service's own words; in another language the rule's plain
    words from the catalog (the service's detail is English)."""
    _ = i18n.context(locale)["_"]
    plain = {
        "R01": _("the renewal window of this subscription is not open"),
        "R02": _("auto-renew cannot be switched while a quote holds it"),
        "R04": _("a quote goes to the buyer and at most four more recipients"),
        "R05": _("these subscriptions are in different groups: make one quote per group"),
        "R08": _("every subscription on a quote has the same partner"),
        "R09": _("every subscription on a quote has the same customer and currency"),
        "R10": _("not allowed in self-service: you can change the term and lower the seats"),
    }
    reason = err.message if locale == i18n.DEFAULT else plain.get(err.rule, err.message)
    return _("refused (%(rule)s): %(reason)s") % {"rule": err.rule, "reason": reason}


async def seen_by_buyer(service: AccountService, account: Account, text: str) -> str:
    """A refusal's or an ended quote's words as this buyer may read them (R19, R21): a quote of this customer
    sent to the buyer is named; another customer, or its quotes, are not."""

    async def may_name(number: str) -> bool:
        try:
            return sent_to(await service.quote_of(account, number), account.email)
        except NotFound:
            return False

    return await buyer_safe(text, account.customer.csn, may_name)


async def safe_refusal(service: AccountService, account: Account, err: Refused) -> Refused:
    return Refused(err.rule, await seen_by_buyer(service, account, err.message))


async def ended_as_seen(service: AccountService, account: Account, quote: Quote) -> Quote:
    reasons = {"cancel_reason": quote.cancel_reason, "superseded_because": quote.superseded_because}
    seen = {field: text and await seen_by_buyer(service, account, text) for field, text in reasons.items()}
    return quote if seen == reasons else quote.model_copy(update=seen)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie(request: Request, name: str) -> str:
    return HOST_ONLY + name if secure(request) else name


async def check_form(request: Request, signer: LinkSigner, limit: PostLimit, account: Account, csrf: str) -> None:
    """A form of this session, from this site, within the session's POSTs a minute."""
    if not await limit.allow_link(session_hash(account.session)):
        raise TooManyPosts()
    if not same_origin(request):
        raise LinkRefused("the form was sent from another site")
    signer.check_session_csrf(account.session, csrf or None)


def form_nonce(request: Request) -> tuple[str, bool]:
    """Before sign-in, forms are bound to a random cookie (double submit): (its value, whether it is new)."""
    nonce = request.cookies.get(cookie(request, FORM))
    found = (nonce, False) if nonce and len(nonce) <= 64 else (secrets.token_urlsafe(24), True)
    request.state.form_nonce = found[0]
    return found


def with_form_cookie(request: Request, response: Response, nonce: str, new: bool) -> Response:
    if new:
        response.set_cookie(
            cookie(request, FORM), nonce, httponly=True, samesite="lax", secure=secure(request), path="/"
        )
    return response


def sentence(request: Request, err: LinkRefused) -> str:
    """A refused link or form, as the page says it, in its language: "The sign-in link is not valid."."""
    return i18n.gettext_of(request)(str(err)).capitalize() + "."


def forbidden(request: Request, text: str, status: int = 403) -> HTMLResponse:
    _ = i18n.context(i18n.locale_of(request))["_"]
    return render(request, "account/message.html", status, title=_("This did not work"), message=text)


@router.get("", response_class=HTMLResponse)
async def start(request: Request, service: Service, signer: Signer) -> Response:
    if await service.account(request.cookies.get(cookie(request, SESSION))) is not None:
        return RedirectResponse("/account/subscriptions", status_code=303)
    nonce, new = form_nonce(request)
    response = render(request, "account/sign_in.html", form_csrf=signer.session_csrf(nonce))
    return with_form_cookie(request, response, nonce, new)


@router.post("/sign-in", response_class=HTMLResponse)
async def ask_link(
    request: Request,
    service: Service,
    signer: Signer,
    limit: Limit,
    tasks: BackgroundTasks,
    email: Field = "",
    csrf: Field = "",
) -> Response:
    """Always "check your email" (whether the address is a buyer contact is never told); a link is sent
    only to a buyer contact, at most 5 an hour and 20 a day per address."""
    _ = i18n.context(i18n.locale_of(request))["_"]
    nonce = request.cookies.get(cookie(request, FORM)) or ""
    if not nonce or not same_origin(request):
        return forbidden(request, _("Open the sign-in page again."))
    try:
        signer.check_session_csrf(nonce, csrf or None)
    except LinkRefused:
        return forbidden(request, _("Open the sign-in page again."))
    by_address, by_email = await limit.allow_sign_in(email, request.client.host if request.client else "unknown")
    if not by_address:
        raise TooManyPosts()
    address = email.strip()[:254]
    if by_email and "@" in address:
        # After the answer: a known address takes no longer to answer than an unknown one.
        tasks.add_task(ask_in_background, service, address)
    return render(request, "account/check_email.html", email=address)


async def ask_in_background(service: AccountService, address: str) -> None:
    try:
        await service.request_sign_in(address)
    except Exception:
        log.exception("a sign-in email could not be started (Temporal or the database did not answer)")


@router.get("/sign-in/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str, signer: Signer) -> Response:
    """The emailed link shows one button: a mail scanner that opens links never uses the sign-in up."""
    try:
        signer.verify_sign_in(token)
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    nonce, new = form_nonce(request)
    response = render(request, "account/confirm.html", token=token, form_csrf=signer.session_csrf(nonce))
    return with_form_cookie(request, response, nonce, new)


@router.post("/sign-in/{token}")
async def sign_in(
    request: Request, token: str, service: Service, signer: Signer, limit: Limit, csrf: Field = ""
) -> Response:
    if not await limit.allow_guess(request.client.host if request.client else "unknown"):
        raise TooManyPosts()
    nonce = request.cookies.get(cookie(request, FORM)) or ""
    try:
        if not nonce or not same_origin(request):
            raise LinkRefused("open the link from your email again")
        signer.check_session_csrf(nonce, csrf or None)
        session = await service.sign_in(token)
    except LinkRefused as err:
        _ = i18n.context(i18n.locale_of(request))["_"]
        return forbidden(request, f"{sentence(request, err)} " + _("Ask for a new link on the sign-in page."))
    response = RedirectResponse("/account/subscriptions", status_code=303)
    response.set_cookie(
        cookie(request, SESSION),
        session,
        max_age=int(SESSION_VALID.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )
    response.delete_cookie(cookie(request, FORM), path="/", secure=secure(request), httponly=True, samesite="lax")
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, account: Signed, service: Service, signer: Signer, limit: Limit, csrf: Field = ""
) -> Response:
    try:
        await check_form(request, signer, limit, account, csrf)
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    await service.sign_out(account.session)
    response = RedirectResponse("/account", status_code=303)
    response.delete_cookie(cookie(request, SESSION), path="/", secure=secure(request), httponly=True, samesite="lax")
    return response


@router.get("/customers", response_class=HTMLResponse)
async def customers(request: Request, account: Signed) -> Response:
    return render(request, "account/customers.html", account=account)


@router.post("/customers")
async def pick(
    request: Request, account: Signed, service: Service, signer: Signer, limit: Limit, csrf: Field = "", csn: Field = ""
) -> Response:
    try:
        await check_form(request, signer, limit, account, csrf)
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    await service.pick(account, csn)
    return RedirectResponse("/account/subscriptions", status_code=303)


@router.post("/language")
async def language(
    request: Request, service: Service, signer: Signer, lang: Field = "en", back: Field = "/account", csrf: Field = ""
) -> Response:
    """The language switch, remembered in a cookie. Its form carries the session's CSRF field, or before
    sign-in the form cookie's; a form from elsewhere changes nothing."""
    target = back if back.startswith("/account") and "//" not in back else "/account"
    response = RedirectResponse(target, status_code=303)
    account = await service.account(request.cookies.get(cookie(request, SESSION)))
    bound_to = account.session if account else request.cookies.get(cookie(request, FORM))
    try:
        if not bound_to or not same_origin(request):
            raise LinkRefused("the form is not one this site served")
        signer.check_session_csrf(bound_to, csrf or None)
    except LinkRefused:
        return response
    i18n.remember(request, response, lang)
    return response


@router.get("/subscriptions", response_class=HTMLResponse)
async def subscriptions(request: Request, account: Buyer, service: Service, error: str = "") -> Response:
    rows = await service.subscription_rows(account)
    return render(request, "account/subscriptions.html", account=account, rows=rows, error=error)


@router.post("/subscriptions/{subscription_id}/auto-renew")
async def auto_renew(
    request: Request,
    subscription_id: str,
    account: Buyer,
    service: Service,
    signer: Signer,
    limit: Limit,
    csrf: Field = "",
    on: Field = "",
) -> Response:
    try:
        await check_form(request, signer, limit, account, csrf)
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    await service.own_subscriptions(account, [subscription_id])
    try:
        await service.subscriptions.set_auto_renew(subscription_id, on == "on")
    except Refused as err:
        rows = await service.subscription_rows(account)
        errors = {subscription_id: await safe_refusal(service, account, err)}
        return render(request, "account/subscriptions.html", 409, account=account, rows=rows, errors=errors)
    return RedirectResponse("/account/subscriptions", status_code=303)


@router.get("/renew", response_class=HTMLResponse)
async def bulk(request: Request, account: Buyer, service: Service) -> Response:
    """Bulk actions > Renew (R05): the groups, each subscription ticked; "Create quote" opens the review."""
    groups = await service.groups(account)
    return render(request, "account/groups.html", account=account, groups=groups)


@router.get("/subscriptions/{subscription_id}/renew")
async def renew_one(subscription_id: str, account: Buyer, service: Service) -> Response:
    """R06: one subscription's renewal opens the review for that line."""
    await service.own_subscriptions(account, [subscription_id])
    return RedirectResponse("/account/renew/review?" + urlencode({"ids": subscription_id}), status_code=303)


@router.get("/renew/review", response_class=HTMLResponse)
async def review(
    request: Request,
    account: Buyer,
    service: Service,
    ids: Annotated[list[str] | None, Query()] = None,
    kind: str = "renewal",
) -> Response:
    """The review of a renewal quote, or with `kind=co-term` of a co-term quote (R07): its subscriptions
    aligned to the latest end date among them."""
    subs = await service.own_subscriptions(account, (ids or [])[:200])
    terms = await service.priced_terms(subs)
    chosen = QuoteKind.CO_TERM if kind == QuoteKind.CO_TERM.value else QuoteKind.RENEWAL
    return review_page(
        request, account, subs, QuoteLines(kind=chosen, subscription_ids=[s.id for s in subs]), terms=terms
    )


def review_page(
    request: Request,
    account: Account,
    subs,
    lines: QuoteLines,
    status: int = 200,
    error: str | None = None,
    line_errors: dict[str, str] | None = None,
    recipient_error: str | None = None,
    terms: dict[str, list[Term]] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "account/review.html",
        status,
        account=account,
        subs=subs,
        lines=lines,
        terms=terms or {},
        all_terms=list(Term),
        co_term=max((s.end_date for s in subs), default=None) if lines.kind is QuoteKind.CO_TERM else None,
        recipients=", ".join(lines.recipients),
        error=error,
        line_errors=line_errors or {},
        recipient_error=recipient_error,
        form_key=lines.key or secrets.token_urlsafe(16),
    )


@router.post("/quotes", response_class=HTMLResponse)
async def create_quote(request: Request, account: Buyer, service: Service, signer: Signer, limit: Limit) -> Response:
    """Send quote: the form's lines, terms, seats and recipients, checked by the quote service as the API's
    would be. A refusal is shown next to the line or field it is about; nothing is created."""
    form = await request.form()
    try:
        await check_form(request, signer, limit, account, str(form.get("csrf", "")))
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    ids = [str(v) for v in form.getlist("ids")][:200]
    subs = await service.own_subscriptions(account, ids)
    terms = await service.priced_terms(subs)
    recipients = [r for r in re.split(r"[\s,;]+", str(form.get("recipients", ""))[:1300]) if r]
    key = str(form.get("key", ""))[:64] or None
    try:
        lines = QuoteLines(
            kind=QuoteKind.CO_TERM if form.get("kind") == QuoteKind.CO_TERM.value else QuoteKind.RENEWAL,
            subscription_ids=ids,
            terms={i: form.get(f"term-{i}") for i in ids if form.get(f"term-{i}")},
            seats={i: form.get(f"seats-{i}") for i in ids if form.get(f"seats-{i}")},
            recipients=recipients,
            pause_auto_renew=form.get("pause") == "on",
            key=key,
        )
    except ValidationError as err:
        kind = QuoteKind.CO_TERM if form.get("kind") == QuoteKind.CO_TERM.value else QuoteKind.RENEWAL
        kept = QuoteLines(kind=kind, subscription_ids=ids, recipients=recipients, key=key)
        return invalid_review(request, account, subs, kept, err, terms)
    try:
        quote = await service.create_quote(account, lines)
    except ValidationError as err:
        return invalid_review(request, account, subs, lines, err, terms)
    except KeyReused:
        text = "This form was sent already, as another quote. Open the review again to make a new quote."
        return review_page(request, account, subs, lines.model_copy(update={"key": None}), 409, error=text, terms=terms)
    except Refused as err:
        err = await safe_refusal(service, account, err)
        text = refusal_text(err, i18n.locale_of(request))
        if err.rule == "R04":
            return review_page(request, account, subs, lines, 409, recipient_error=text, terms=terms)
        about = {s.id: text for s in subs if re.search(rf"(?<![\w.-]){re.escape(s.id)}(?![\w.-])", err.message)}
        return review_page(
            request, account, subs, lines, 409, error=None if about else text, line_errors=about, terms=terms
        )
    except BadInput as err:
        return review_page(request, account, subs, lines, 422, error=err.message, terms=terms)
    return RedirectResponse(f"/account/quotes?created={quote.number}", status_code=303)


def _(message: str) -> str:
    """Marks a text for the catalog; the page translates it when it shows it."""
    return message


SENT_ALREADY = _("This form was sent already, as another quote. Open the form again to make a new quote.")


@router.get("/new", response_class=HTMLResponse)
async def new_purchase(request: Request, account: Buyer, service: Service) -> Response:
    """Buy new (R07): a new-purchase quote for a product of the price list."""
    return new_page(request, account, await service.offers())


def new_page(request: Request, account: Account, offers, status: int = 200, **context) -> HTMLResponse:
    context = {"chosen": "", "seats": 1, "recipients": "", "form_key": secrets.token_urlsafe(16)} | context
    return render(request, "account/new.html", status, account=account, offers=offers, **context)


@router.post("/quotes/new", response_class=HTMLResponse)
async def create_new_purchase(
    request: Request,
    account: Buyer,
    service: Service,
    signer: Signer,
    limit: Limit,
    csrf: Field = "",
    key: Field = "",
    offer: Field = "",
    seats: Field = "",
    recipients: Field = "",
) -> Response:
    """Send a new-purchase quote, checked by the quote service as the API's would be; nothing is made when a
    rule refuses it, and the refusal is shown on the form."""
    try:
        await check_form(request, signer, limit, account, csrf)
    except LinkRefused as err:
        return forbidden(request, sentence(request, err))
    offers = await service.offers()
    addresses = [r for r in re.split(r"[\s,;]+", recipients[:1300]) if r]
    kept = {"chosen": offer[:300], "seats": seats[:12], "recipients": recipients[:1300], "form_key": key[:64]}
    product, _, rest = offer.partition("|")
    term, _, currency = rest.partition("|")
    try:
        purchase = NewPurchase(
            product=product, term=term, currency=currency, seats=seats, recipients=addresses, key=key[:64] or None
        )
        quote = await service.create_new_purchase(account, purchase)
    except ValidationError as err:
        text = "; ".join(dict.fromkeys(f"{e['loc'][0]}: {e['msg']}" for e in err.errors(include_url=False)))
        return new_page(request, account, offers, 422, error=text, **kept)
    except KeyReused:
        text = i18n.gettext_of(request)(SENT_ALREADY)
        return new_page(request, account, offers, 409, error=text, **kept)
    except Refused as err:
        err = await safe_refusal(service, account, err)
        text = refusal_text(err, i18n.locale_of(request))
        if err.rule == "R04":
            return new_page(request, account, offers, 409, recipient_error=text, **kept)
        return new_page(request, account, offers, 409, error=text, **kept)
    except BadInput as err:
        return new_page(request, account, offers, 422, error=err.message, **kept)
    return RedirectResponse(f"/account/quotes?created={quote.number}", status_code=303)


def invalid_review(
    request: Request, account: Account, subs, lines: QuoteLines, err: ValidationError, terms: dict[str, list[Term]]
) -> HTMLResponse:
    """What does not validate, next to its line (seats, term) or the recipients; anything else on top."""
    errors = err.errors(include_url=False)
    lines_at = {str(e["loc"][1]): e["msg"] for e in errors if len(e["loc"]) > 1 and e["loc"][0] in ("seats", "terms")}
    recipients = next((e["msg"] for e in errors if e["loc"] and e["loc"][0] == "recipients"), None)
    rest = [e["msg"] for e in errors if str(e["loc"][1] if len(e["loc"]) > 1 else "") not in lines_at]
    rest = [m for m in rest if m != recipients]
    top = "; ".join(dict.fromkeys(rest)) or None
    return review_page(
        request, account, subs, lines, 422, error=top, line_errors=lines_at, recipient_error=recipients, terms=terms
    )


@router.get("/quotes", response_class=HTMLResponse)
async def quotes(request: Request, account: Buyer, service: Service, signer: Signer, created: str = "") -> Response:
    """Billing and orders > Quotes (R14): active quotes with accept and pay (the quote pages, by a link made
    for the buyer), the last ended ones with how they ended, a paid one with its receipt."""
    active, ended = await service.quotes_of(account)
    ended = [await ended_as_seen(service, account, q) for q in ended]
    links = {
        q.number: "/quotes/{}?{}".format(
            q.number, urlencode({"token": signer.quote_token(q.number, account.email, q.expires_at or now())})
        )
        for q in active
        if sent_to(q, account.email)
    }
    return render(
        request,
        "account/quotes.html",
        account=account,
        active=active,
        ended=ended,
        links=links,
        receipts={q.number for q in ended if q.state is QuoteState.PAID and sent_to(q, account.email)},
        created=created if any(q.number == created for q in active) else "",
        QuoteState=QuoteState,
    )


@router.get("/quotes/{number}")
async def open_quote(number: str, account: Buyer, service: Service, signer: Signer) -> Response:
    quote = await service.quote_of(account, number)
    if not sent_to(quote, account.email):
        raise NotFound(f"unknown quote {number[:40]}")
    token = signer.quote_token(quote.number, account.email, link_until(quote))
    return RedirectResponse(f"/quotes/{quote.number}?" + urlencode({"token": token}), status_code=303)
