"""Buyer pages: a quote from its email link, a customer's active and ended quotes, accept, accept and pay,
and a paid quote's receipt.

Every page needs a signed link (403 otherwise); every state change is a POST carrying a CSRF
field derived from the link, from this site's own pages, within a rate limit; each action is an
update on the quote's workflow, and its answer (or refusal) is shown in plain words. Headers and
logging that keep the link's token private are in web/security.py.
"""

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from temporalio.service import RPCError

from documents.answer_words import DECLINE_REASONS
from documents.quote_pdf import transfer_details
from domain.buyer_words import may_name as nameable
from domain.buyer_words import quotes_named, sent_to, unnamed
from domain.errors import BadInput, PaymentDeclined, Refused
from domain.links import RECEIPT_LINK_LIFETIME, LinkRefused, LinkSigner
from domain.quotes import Quote, QuoteState, check_purchase_order
from payments.gateway import Card
from services.quotes import QuoteService
from web import i18n, texts
from web.deps import Gateway, Limit, Quotes, Signer
from web.input_guard import ControlCharacter
from web.stripe_checkout import StripeCheckout, payment_method_of

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=HERE / "templates")


def _(message: str) -> str:
    """Marks a text for the catalog; the page translates it when it shows it (`tr`)."""
    return message


DONE = {
    "accepted": _("Quote accepted. You can pay it now or later, before it expires."),
    "bank_transfer": _(
        "Quote accepted, to be paid by bank transfer. Transfer the total with the payment reference below; "
        "the details are in your email too."
    ),
    "paid": _("Thank you: the quote is paid and your subscriptions are renewed. A confirmation is on its way."),
    "changes_requested": _(
        "Your request for changes is sent to your partner or sales. The quote stays as it is until they answer "
        "with a revised quote, or cancel it."
    ),
    "declined": _(
        "Your answer is sent to your partner or sales: you decline this quote. It stays open until it expires or "
        "they cancel it; nothing is charged unless you pay it."
    ),
}
PLAIN = {
    "R15": _("This quote has expired. Ask for a new quote."),
    "lifecycle": _("This quote can no longer be changed."),
    "R20": _("Your payment is being confirmed with the payment provider; please do not pay again."),
}
Field = Annotated[str, Form()]
# How many ended quotes the quotes page lists below the active ones (the last to end first).
ENDED_SHOWN = 20
# Holds the quote's link while its buyer authenticates a payment at their bank (3-D Secure), for the way back:
# only for the return path, only for an hour, never readable by a script.
AUTHENTICATING = "renewals_authenticating"
AUTHENTICATING_SECONDS = 3600

router = APIRouter(include_in_schema=False)


class TooManyPosts(Exception):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def tr(request: Request, message: str) -> str:
    return i18n.gettext_of(request)(message)


def ended_text(request: Request, quote: Quote) -> str:
    if quote.state is QuoteState.PAID:
        return tr(request, _("This quote is paid."))
    if quote.state is QuoteState.EXPIRED:
        return tr(request, PLAIN["R15"])
    if quote.cancel_reason:
        return tr(request, _("This quote is no longer valid: %(reason)s. %(because)s. Nothing was charged for it.")) % {
            "reason": quote.cancel_reason,
            "because": quote.superseded_because,
        }
    return tr(request, _("This quote was cancelled. Ask your partner or sales for a new one."))


async def refusal_text(
    request: Request, err: Refused, quote: Quote, quotes: QuoteService, recipient: str | None
) -> str:
    """A refusal as the buyer reads it: an ended quote says how it ended; a rule's plain words where the
    catalog has them; else the refusal's own words, naming no other customer's quote or CSN (R19, R21)."""
    if quote.state.terminal:
        return ended_text(request, quote)
    if err.rule in PLAIN:
        return tr(request, PLAIN[err.rule])
    return await buyer_safe(err.message, quote.csn, lambda n: may_name(quotes, n, quote, recipient))


def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    """A page in the visitor's language (web/i18n.py): the catalog, money and dates of that locale."""
    return templates.TemplateResponse(
        request, name, i18n.context(i18n.locale_of(request)) | context, status_code=status
    )


def message(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    return page(request, "message.html", status, title=title, message=text)


def forbidden(request: Request, reason: str) -> HTMLResponse:
    text = tr(request, _("%(reason)s. Use the link in your most recent quote email.")) % {
        "reason": tr(request, reason).capitalize()
    }
    return message(request, 403, tr(request, _("This link does not work")), text)


def switch(request: Request, token: str, back: str = "quote") -> dict[str, str] | None:
    """The header's language switch on a quote's pages (`language` below): its form's CSRF field, and the page
    it leads back to, the quote's or its pay page, with the quote page's notice if it shows one."""
    if not token:
        return None
    done = request.query_params.get("done", "") if request.method == "GET" else ""
    signer: LinkSigner = request.app.state.signer
    return {"csrf": signer.csrf(token), "back": back, "done": done if done in DONE else ""}


def quote_page(request: Request, quote: Quote, token: str, signer: LinkSigner, status: int = 200, **extra):
    """The quote with its actions; one awaiting a bank transfer says where to pay it (R29)."""
    transfer = transfer_details(quote, request.app.state.vendor)
    return page(
        request,
        "quote.html",
        status,
        quote=quote,
        token=token,
        csrf=signer.csrf(token),
        switch=switch(request, token),
        transfer=transfer,
        reason_labels=DECLINE_REASONS,
        **extra,
    )


def pay_page(
    request: Request,
    quote: Quote,
    token: str,
    signer: LinkSigner,
    status: int,
    errors: list[str],
    field_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """The card form; `field_errors` are each shown next to their field (`holder`, `card_number`, `expiry`,
    `cvc`), `errors` above the form. Nothing typed is sent back: the card is typed again. With Stripe, the card
    is typed in Stripe.js's field, which makes the PaymentMethod in the browser (web/stripe_checkout.py): the
    page asks nothing of Stripe."""
    checkout: StripeCheckout | None = getattr(request.app.state, "stripe_checkout", None)
    response = page(
        request,
        "pay.html",
        status,
        quote=quote,
        token=token,
        csrf=signer.csrf(token),
        switch=switch(request, token, "pay"),
        errors=errors,
        field_errors=field_errors or {},
        stripe=checkout,
    )
    if checkout is not None:
        response.headers["content-security-policy"] = checkout.policy()
    return response


def unreadable(request: Request, _problem: ControlCharacter) -> HTMLResponse:
    """web/input_guard.py found a control character in a page's link or form: 400, nothing done."""
    text = tr(
        request,
        _(
            "The link or a field of the form holds a control character (such as a NUL), which this site does not "
            "take. Nothing was changed: go back, type the text again and send it."
        ),
    )
    return message(request, 400, tr(request, _("This request cannot be read")), text)


def ended(request: Request, quote: Quote, status: int, token: str = "", done: str | None = None) -> HTMLResponse:
    """R19: an expired or cancelled quote's links show only how it ended (and the language switch)."""
    text = ended_text(request, quote)
    view = {"quote": quote, "token": token, "message": text, "done": done, "switch": switch(request, token)}
    return page(request, "ended.html", status, **view)


def receipt(request: Request, quote: Quote, token: str, status: int = 200, done: str | None = None) -> HTMLResponse:
    """A paid quote's link shows its receipt, to its own recipients only (R19): the lines, the total, the
    payment's reference and date, the new end dates; no actions."""
    return page(request, "receipt.html", status, quote=quote, token=token, done=done, switch=switch(request, token))


def link_until(quote: Quote) -> datetime:
    """When a link a page makes for a quote stops working: a pending quote's when it expires; a paid
    quote's receipt a day from now."""
    if quote.state.pending and quote.expires_at:
        return quote.expires_at
    return now() + RECEIPT_LINK_LIFETIME


def paid_or_ended(request: Request, quote: Quote, token: str, signer: LinkSigner | None = None) -> HTMLResponse:
    """After "Accept and pay": paid is a success, however many clicks it took, and shows the receipt; a
    payment being confirmed (R20) is said so, on the quote's page; anything else ended it."""
    if quote.state is QuoteState.PAID:
        return receipt(request, quote, token, done=tr(request, DONE["paid"]))
    if quote.payment == "pending" and signer is not None:
        return quote_page(request, quote, token, signer, 202)
    return ended(request, quote, 409, token)


CARD_FIELDS = {
    "holder": _("Enter the name on the card (at most 100 characters)."),
    "expiry": _("Write the expiry date as MM/YY, for example 12/29."),
}
# The form's names of the card's fields (payments/gateway.Card's are `number` and the rest alike).
FORM_FIELD = {"holder": "holder", "number": "card_number", "expiry": "expiry", "cvc": "cvc"}


def card_errors(request: Request, err: ValidationError) -> dict[str, str]:
    """Each refused card field's error, by its form field: the check's own sentence where the catalog has
    it (web/texts.CARD_ERRORS), else the field's."""
    errors: dict[str, str] = {}
    for error in err.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        errors.setdefault(FORM_FIELD.get(field, field), card_error(request, field, error))
    return errors


def card_error(request: Request, field: str, error) -> str:
    check = str(error["msg"]).removeprefix("Value error, ")
    if check not in texts.CARD_ERRORS and field in CARD_FIELDS:
        return tr(request, CARD_FIELDS[field])
    text = tr(request, check)
    return f"{text[:1].upper()}{text[1:]}."


def declined_text(request: Request, err: PaymentDeclined) -> str:
    """The provider's reason is in English; another language says the card was declined and gives it as is."""
    if i18n.locale_of(request) == i18n.DEFAULT:
        reason = f"{err.message[:1].upper()}{err.message[1:]}"
    else:
        detail = re.search(r"declined: (.+?);", err.message)
        reason = tr(request, _("Your card was declined (%(detail)s); nothing was charged")) % {
            "detail": detail.group(1) if detail else "-"
        }
    return tr(request, _("%(reason)s. The quote is accepted: you can pay it with another card.")) % {"reason": reason}


def quote_url(number: str, token: str, **extra) -> str:
    return f"/quotes/{number}?" + urlencode({"token": token, **extra})


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


async def quote_for(quotes: QuoteService, signer: LinkSigner, number: str, token: str | None) -> Quote:
    """The quote this link opens, for its recipient; LinkRefused if it is not theirs."""
    recipient = signer.verify_quote(token, number, now())
    quote = await quotes.read(number)
    if not sent_to(quote, recipient):
        raise LinkRefused("this link is not for this quote")
    return await as_seen_by(quotes, quote, recipient)


async def open_quote(request: Request, quotes: QuoteService, signer: LinkSigner, number: str, token: str) -> Quote:
    """`quote_for`, on a page that then speaks the quote's customer's language unless the visitor switched."""
    quote = await quote_for(quotes, signer, number, token)
    i18n.customer_speaks(request, quote.language)
    return quote


def holder_of(signer: LinkSigner, number: str, token: str) -> str | None:
    """Whom the link is for, or None once it no longer verifies."""
    try:
        return signer.verify_quote(token, number, now())
    except LinkRefused:
        return None


async def reread(quotes: QuoteService, signer: LinkSigner, number: str, token: str) -> Quote:
    """The quote again after an action, as the link's holder may see it (everyone else's quotes unnamed
    when the link no longer verifies)."""
    return await as_seen_by(quotes, await quotes.read(number), holder_of(signer, number, token))


async def buyer_safe(text: str, csn: str, may_name: Callable[[str], Awaitable[bool]]) -> str:
    """`text` as a buyer of customer `csn` may read it (R19, R21, domain/buyer_words.py): another customer is
    "another customer", and a quote `may_name` does not allow is "another quote". The detail stays for
    partners, sales and the API, which read the quote and the refusal as they are."""
    return unnamed(text, csn, {n for n in quotes_named(text) if await may_name(n)})


async def may_name(quotes: QuoteService, number: str, quote: Quote, recipient: str | None) -> bool:
    """A page about `quote` names another quote only to a viewer it was sent to as well (R19), and only if it
    is the same customer's (R21)."""
    if number == quote.number or recipient is None:
        return number == quote.number
    try:
        other = await quotes.read(number)
    except BadInput:  # NotFound: a quote this one names but the store does not know
        return False
    return nameable(quote, other, recipient)


async def as_seen_by(quotes: QuoteService, quote: Quote, recipient: str | None) -> Quote:
    """R19, R21: a superseded quote names the quote that renewed its terms ("superseded by Q-000123") only to a
    viewer that quote was sent to as well, and never another customer's quote or CSN (a subscription that
    moved to a new owner: "the subscription moved to another customer")."""
    reasons = {"cancel_reason": quote.cancel_reason, "superseded_because": quote.superseded_because}
    seen = {
        field: text and await buyer_safe(text, quote.csn, lambda n: may_name(quotes, n, quote, recipient))
        for field, text in reasons.items()
    }
    return quote if seen == reasons else quote.model_copy(update=seen)


async def guarded_post(
    request: Request, quotes: QuoteService, signer: LinkSigner, limit, number: str, token: str, csrf: str | None
) -> Quote:
    try:
        signer.verify_quote(token, number, now())
    except LinkRefused:
        if not await limit.allow_guess(request.client.host if request.client else "unknown"):
            raise TooManyPosts() from None
        raise
    if not await limit.allow_link(token):
        raise TooManyPosts()
    if not same_origin(request):
        raise LinkRefused("the form was sent from another site")
    quote = await open_quote(request, quotes, signer, number, token)
    signer.check_csrf(token, csrf)
    return quote


@router.get("/quotes/{number}", response_class=HTMLResponse)
async def show_quote(request: Request, number: str, quotes: Quotes, signer: Signer, token: str = "", done: str = ""):
    try:
        quote = await open_quote(request, quotes, signer, number, token)
    except LinkRefused as err:
        return forbidden(request, str(err))
    if quote.state is QuoteState.PAID:
        return receipt(request, quote, token)
    if quote.state.terminal:
        return ended(request, quote, 410, token)
    if done == "authenticated":  # back from the bank (3-D Secure): being confirmed, or it did not go through
        if quote.payment == "pending":
            return quote_page(request, quote, token, signer, returned=True)
        return quote_page(request, quote, token, signer, error=tr(request, NOT_AUTHENTICATED))
    return quote_page(request, quote, token, signer, done=tr(request, DONE[done]) if done in DONE else None)


@router.post("/quotes/{number}/language")
async def language(
    request: Request,
    number: str,
    quotes: Quotes,
    signer: Signer,
    limit: Limit,
    token: Field = "",
    csrf: Field = "",
    lang: Field = "",
    back: Field = "",
    done: Field = "",
) -> Response:
    """The quote pages' language switch, the account's (web/account.py): the choice is remembered in the same
    cookie and goes before the customer's language. A form of this link's pages only; back to the page it
    was on, with the link's token."""
    try:
        await guarded_post(request, quotes, signer, limit, number, token, csrf or None)
    except LinkRefused as err:
        return forbidden(request, str(err))
    extra = {"done": done} if back != "pay" and done in DONE else {}
    target = (
        f"/quotes/{number}/pay?" + urlencode({"token": token}) if back == "pay" else quote_url(number, token, **extra)
    )
    response = RedirectResponse(target, status_code=303)
    i18n.remember(request, response, lang)
    return response


NOT_AUTHENTICATED = _(
    "The payment did not go through: your bank did not confirm it, or declined it. Nothing was charged; you can "
    "pay again."
)


@router.post("/quotes/{number}/accept")
async def accept(
    request: Request,
    number: str,
    quotes: Quotes,
    signer: Signer,
    limit: Limit,
    token: Field = "",
    csrf: Field = "",
    method: Field = "",
    purchase_order: Field = "",
) -> Response:
    """Accept, with the buyer's purchase order number if given (R27); with `method=bank_transfer`, to be paid
    by bank transfer with the quote's RF reference (R29)."""
    try:
        quote = await guarded_post(request, quotes, signer, limit, number, token, csrf or None)
    except LinkRefused as err:
        return forbidden(request, str(err))
    transfer = method == "bank_transfer"
    try:
        check_purchase_order(purchase_order)
    except Refused:
        return quote_page(request, quote, token, signer, 422, error=tr(request, PURCHASE_ORDER_WRONG))
    try:
        await quotes.accept(number, bank_transfer=transfer, purchase_order=purchase_order)
    except (Refused, BadInput) as err:
        quote = await reread(quotes, signer, number, token)
        if quote.state is QuoteState.PAID:
            return receipt(request, quote, token, 409)
        if quote.state.terminal:
            return ended(request, quote, 409, token)
        if isinstance(err, Refused):
            text = await refusal_text(request, err, quote, quotes, holder_of(signer, number, token))
        else:
            text = err.message
        return quote_page(request, quote, token, signer, 409, error=text)
    return RedirectResponse(quote_url(number, token, done="bank_transfer" if transfer else "accepted"), status_code=303)


@router.post("/quotes/{number}/answer")
async def answer(
    request: Request,
    number: str,
    quotes: Quotes,
    signer: Signer,
    limit: Limit,
    token: Field = "",
    csrf: Field = "",
    kind: Field = "",
    reason: Field = "",
    message: Field = "",
) -> Response:
    """R26: the buyer asks for changes or declines. The quote stays as it is; its partner or sales hears."""
    try:
        quote = await guarded_post(request, quotes, signer, limit, number, token, csrf or None)
    except LinkRefused as err:
        return forbidden(request, str(err))
    if kind not in ("changes_requested", "declined"):
        return quote_page(request, quote, token, signer, 422, error=tr(request, ANSWER_HOW))
    if kind == "declined" and not reason:
        return quote_page(request, quote, token, signer, 422, error=tr(request, ANSWER_REASON))
    if not message.strip():
        return quote_page(request, quote, token, signer, 422, error=tr(request, ANSWER_EMPTY))
    try:
        await quotes.answer(
            number, kind, message, reason if kind == "declined" else None, actor=holder_of(signer, number, token)
        )
    except (Refused, BadInput) as err:
        quote = await reread(quotes, signer, number, token)
        if quote.state.terminal:
            return paid_or_ended(request, quote, token)
        text = err.message
        if isinstance(err, Refused):
            text = await refusal_text(request, err, quote, quotes, holder_of(signer, number, token))
        return quote_page(request, quote, token, signer, 409, error=text)
    return RedirectResponse(quote_url(number, token, done=kind) + "#answer", status_code=303)


ANSWER_HOW = _("Choose whether you ask for changes or decline the quote.")
ANSWER_REASON = _("Choose why you decline the quote.")
ANSWER_EMPTY = _("Write what should change, or why you decline: the message is empty.")


@router.get("/quotes/{number}/pay", response_class=HTMLResponse)
async def payment_form(request: Request, number: str, quotes: Quotes, signer: Signer, token: str = "") -> Response:
    try:
        quote = await open_quote(request, quotes, signer, number, token)
    except LinkRefused as err:
        return forbidden(request, str(err))
    if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED) or quote.payment == "pending":
        return RedirectResponse(quote_url(number, token), status_code=303)
    return pay_page(request, quote, token, signer, 200, [])


@router.post("/quotes/{number}/pay")
async def pay(
    request: Request,
    number: str,
    quotes: Quotes,
    signer: Signer,
    gateway: Gateway,
    limit: Limit,
    token: Field = "",
    csrf: Field = "",
    holder: Field = "",
    card_number: Field = "",
    expiry: Field = "",
    cvc: Field = "",
    payment_method: Field = "",
    purchase_order: Field = "",
) -> Response:
    """Accept and pay: the card goes to the gateway, which gives a token (with Stripe, Stripe.js made the
    PaymentMethod in the browser and only its id is posted); the quote's workflow gets only the token, and
    charges it after it reserved every term (R16). A declined card leaves it accepted; a card whose bank asks
    the buyer to authenticate (3-D Secure) sends them there, and back to `/quotes/<number>/authenticated`."""
    try:
        quote = await guarded_post(request, quotes, signer, limit, number, token, csrf or None)
    except LinkRefused as err:
        return forbidden(request, str(err))
    if quote.state.terminal:
        return paid_or_ended(request, quote, token)
    if quote.payment == "pending":
        return quote_page(request, quote, token, signer, 409)
    try:
        check_purchase_order(purchase_order)
    except Refused:
        return pay_page(request, quote, token, signer, 422, [], {"purchase_order": tr(request, PURCHASE_ORDER_WRONG)})
    if getattr(request.app.state, "stripe_checkout", None) is not None:
        method = payment_method_of(payment_method)
        if method is None:
            return pay_page(request, quote, token, signer, 422, [tr(request, CARD_FIELD_EMPTY)])
    else:
        try:
            card = Card.model_validate(
                {"holder": holder, "number": card_number, "expiry": expiry, "cvc": cvc},
                context={"today": now().date()},
            )
        except ValidationError as err:
            return pay_page(request, quote, token, signer, 422, [], card_errors(request, err))
        method = None
    if quote.state is QuoteState.DRAFT:
        return quote_page(request, quote, token, signer, 409, error=tr(request, PLAIN["lifecycle"]))
    if method is None:
        method = await gateway.tokenize(card)
    try:
        answered = await quotes.accept(number, pay=True, payment_method=method, purchase_order=purchase_order)
    except PaymentDeclined as err:
        quote = await quotes.read(number)  # written before the update answered: accepted, no payment going on
        text = declined_text(request, err)
        return pay_page(request, quote, token, signer, 402, [text])
    except Refused as err:
        quote = await reread(quotes, signer, number, token)
        if quote.state.terminal:
            return paid_or_ended(request, quote, token)
        text = await refusal_text(request, err, quote, quotes, holder_of(signer, number, token))
        return quote_page(request, quote, token, signer, 409, error=text)
    if answered.payment_action_url:
        return to_authenticate(request, answered, token)
    # The update's own answer, as this buyer may see it: no read after the one action (paid, or pending).
    seen = await as_seen_by(quotes, answered, holder_of(signer, number, token))
    return paid_or_ended(request, seen, token, signer)


PURCHASE_ORDER_WRONG = _(
    "A purchase order number has at most 35 characters, on one line (letters, digits, spaces, punctuation)."
)
CARD_FIELD_EMPTY = _("Enter your card in the card field, then press the button again.")


def to_authenticate(request: Request, quote: Quote, token: str) -> Response:
    """To the bank's authentication page (3-D Secure); the link's token is kept in a cookie of the return path
    only, so that coming back shows this quote without the token in any address the bank sees."""
    assert quote.payment_action_url is not None
    response = RedirectResponse(quote.payment_action_url, status_code=303)
    response.set_cookie(
        AUTHENTICATING,
        token,
        max_age=AUTHENTICATING_SECONDS,
        path=f"/quotes/{quote.number}/authenticated",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",  # sent on the bank's top-level redirect back, never on another site's request
    )
    return response


@router.get("/quotes/{number}/authenticate", response_class=HTMLResponse)
async def authenticate(request: Request, number: str, quotes: Quotes, signer: Signer, token: str = "") -> Response:
    """The quote page's "Confirm the payment with your bank": to the bank's page, as after "Accept and pay"."""
    try:
        quote = await open_quote(request, quotes, signer, number, token)
    except LinkRefused as err:
        return forbidden(request, str(err))
    if quote.payment_action_url is None:
        return RedirectResponse(quote_url(number, token), status_code=303)
    return to_authenticate(request, quote, token)


@router.get("/quotes/{number}/authenticated", response_class=HTMLResponse)
async def authenticated(
    request: Request,
    number: str,
    quotes: Quotes,
    signer: Signer,
    token: Annotated[str, Cookie(alias=AUTHENTICATING)] = "",
) -> Response:
    """Back from the bank (3-D Secure): the quote's workflow asks the provider now (R20) and the buyer sees their
    quote, which shows the outcome once it is known. Without this browser's cookie (another browser, an hour
    later) the page only says the payment is being confirmed: Stripe's webhook tells the workflow anyway."""
    try:
        signer.verify_quote(token, number, now())
    except LinkRefused:
        text = tr(request, AUTHENTICATED)
        return message(request, 200, tr(request, _("Thank you")), text)
    try:
        await quotes.check_payment(number)
    except BadInput:  # ended meanwhile: its page says how
        pass
    except RPCError:  # Temporal not answering: Stripe's webhook, or the workflow's next look, settles it
        log.warning("quote %s: back from the bank, but the workflow could not be told now", number)
    response = RedirectResponse(quote_url(number, token, done="authenticated"), status_code=303)
    response.delete_cookie(AUTHENTICATING, path=f"/quotes/{number}/authenticated")
    return response


AUTHENTICATED = _(
    "Your payment is being confirmed with the payment provider. You will get an email once it is paid; the link "
    "in your quote email shows the quote and its outcome."
)


@router.get("/customers/{csn}/quotes", response_class=HTMLResponse)
async def customer_quotes(request: Request, csn: str, quotes: Quotes, signer: Signer, token: str = "") -> Response:
    """R14, R19: the active quotes sent to this contact (for the buyer, all of the customer's), each with
    its own signed link for the same contact; below them the last ended ones sent to this contact, each
    with how it ended, a paid one with a link to its receipt."""
    try:
        recipient = signer.verify_customer(token or None, csn, now())
    except LinkRefused as err:
        return forbidden(request, str(err))
    active = [
        q
        for q in await quotes.find(csn=csn)
        if q.state in (QuoteState.SENT, QuoteState.ACCEPTED) and sent_to(q, recipient)
    ]
    rows = []
    for quote in active:
        quote_token = signer.quote_token(quote.number, recipient, quote.expires_at or now() + timedelta(days=1))
        rows.append({"quote": quote, "token": quote_token, "csrf": signer.csrf(quote_token)})
    ended_rows = []
    for quote in await quotes.ended(csn, recipient, ENDED_SHOWN):
        if not sent_to(quote, recipient):
            continue
        link = None
        if quote.state is QuoteState.PAID:
            link = quote_url(quote.number, signer.quote_token(quote.number, recipient, link_until(quote)))
        ended_rows.append({"quote": await as_seen_by(quotes, quote, recipient), "link": link})
    return page(
        request, "quotes.html", rows=rows, ended=ended_rows, ended_shown=ENDED_SHOWN, csn=csn, recipient=recipient
    )


@router.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}
