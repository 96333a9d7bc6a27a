"""localstripe as the tests and docs/payments.md's Stripe walkthrough run it: `python tests/localstripe_server.py STORE
--port N [--from-scratch]`. Three things differ from plain localstripe, each to behave as Stripe does:
- its store is pickled to STORE, a file of its own (localstripe always writes /tmp/localstripe.pickle, which
  two test processes would share);
- `DELETE /_config/data` forgets the webhook endpoints too;
- confirm takes what Stripe's takes (`payment_method`, `return_url`), and cancel a `cancellation_reason`;
- a card that needs 3-D Secure, confirmed with a `return_url`, gets Stripe's `redirect_to_url` next action: a
  page of this server (`/_config/3ds/<intent>`) where the buyer completes or fails the authentication and is
  sent back to the return URL, as Stripe's hosted authentication page does. localstripe alone only knows
  Stripe.js's in-page flow;
- its Stripe.js stand-in gets `createPaymentMethod` (localstripe's does nothing), which makes the PaymentMethod
  from its card field through `/_config/payment_methods`, as Stripe.js does through Stripe's API.
"""

import html
import json
import pickle
import sys
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from localstripe import resources, webhooks

STORE = sys.argv.pop(1)
PORT = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8420
BASE = f"http://127.0.0.1:{PORT}"


def dump_to_disk(self: resources.Store) -> None:
    with open(STORE, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)


def confirm(id: str, payment_method: str | None = None, return_url: str | None = None, **kwargs):
    """Stripe's confirm with a (new) payment method; with a `return_url`, an authentication is a redirect."""
    intent = resources.PaymentIntent._api_retrieve(id)
    if payment_method is not None:
        resources.PaymentMethod._api_retrieve(payment_method)  # 404 for an unknown one, as Stripe
        intent.payment_method = payment_method
        if intent.latest_charge is not None and intent.latest_charge.status == "failed":
            intent.latest_charge = None  # a declined intent takes another card, as Stripe's does
    intent = CONFIRM(id, **kwargs)
    if return_url and intent.next_action and intent.next_action.get("type") == "use_stripe_sdk":
        intent._return_url = return_url
        intent.next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": f"{BASE}/_config/3ds/{id}", "return_url": return_url},
        }
    return intent


def cancel(id: str, cancellation_reason: str | None = None, **kwargs):
    return CANCEL(id, **kwargs)


async def authentication_page(request: web.Request) -> web.Response:
    """What the bank shows: the amount, and a button to complete or to fail the authentication."""
    intent = resources.PaymentIntent._api_retrieve(request.match_info["id"])
    amount = f"{intent.amount / 100:.2f} {intent.currency.upper()}"
    forms = "".join(
        f'<form method="post"><input type="hidden" name="success" value="{value}">'
        f'<button type="submit" id="{value}">{label}</button></form>'
        for value, label in (("true", "Complete authentication"), ("false", "Fail authentication"))
    )
    body = (
        f"<!doctype html><title>3-D Secure</title><h1>localstripe: 3-D Secure</h1><p>{html.escape(amount)}</p>{forms}"
    )
    return web.Response(text=body, content_type="text/html")


async def authenticate(request: web.Request) -> web.Response:
    """The buyer's answer, then back to the shop: `payment_intent` and `redirect_status` added, as Stripe does."""
    id = request.match_info["id"]
    success = (await request.post()).get("success") == "true"
    intent = resources.PaymentIntent._api_retrieve(id)
    if intent.status == "requires_action":
        intent = resources.PaymentIntent._api_authenticate(id, client_secret=intent.client_secret, success=success)
    status = "succeeded" if intent.status == "succeeded" else "failed"
    target = getattr(intent, "_return_url", None) or BASE
    joiner = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(f"{target}{joiner}{urlencode({'payment_intent': id, 'redirect_status': status})}")


def clear(self: resources.Store) -> None:
    """`DELETE /_config/data` empties the webhooks too: a test's endpoint never gets the next test's events."""
    CLEAR(self)
    webhooks._webhooks.clear()


CLEAR = resources.Store.clear
resources.Store.clear = clear  # type: ignore[method-assign]
# Stripe.js's createPaymentMethod({type: "card", card, billing_details}) on localstripe's card field.
CREATE_PAYMENT_METHOD = """
(function () {
  const made = Stripe;
  Stripe = (apiKey) => {
    const stripe = made(apiKey);
    stripe.createPaymentMethod = async (data) => {
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/_config/payment_methods`, {
        method: 'POST',
        body: JSON.stringify({card: data.card.value.card, billing_details: data.billing_details || {}}),
      });
      const body = await response.json().catch(() => ({}));
      return response.ok ? {paymentMethod: body} : {error: body.error || {message: 'Your card was declined.'}};
    };
    return stripe;
  };
})();
"""


@web.middleware
async def stripe_js(request: web.Request, handler):
    if request.path != "/js.stripe.com/v3/":
        return await handler(request)
    script = (Path(resources.__file__).with_name("localstripe-v3.js")).read_text() + CREATE_PAYMENT_METHOD
    return web.Response(text=script, content_type="application/javascript")


async def payment_method(request: web.Request) -> web.Response:
    """What Stripe's API makes of the card typed in Stripe.js's field: a PaymentMethod, or a card error."""
    data = json.loads(await request.text())
    card = {field: str(data["card"].get(field, "")) for field in ("number", "exp_month", "exp_year", "cvc")}
    try:
        made = resources.PaymentMethod(type="card", card=card, billing_details=data.get("billing_details") or {})
    except resources.UserError as err:
        return web.json_response(
            {"error": {"message": "Your card number is incorrect.", "detail": str(err)}}, status=402
        )
    return web.json_response(made._export())


CONFIRM = resources.PaymentIntent._api_confirm
CANCEL = resources.PaymentIntent._api_cancel
resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]
resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
OURS = {CONFIRM: confirm, CANCEL: cancel}
resources.extra_apis[:] = [(m, u, OURS.get(f, f)) for m, u, f in resources.extra_apis]

from localstripe.server import app, start  # noqa: E402  (builds its routes from extra_apis at import)

app.router.add_get("/_config/3ds/{id}", authentication_page)  # /_config/ needs no key, as a bank's page
app.router.add_post("/_config/3ds/{id}", authenticate)
app.router.add_post("/_config/payment_methods", payment_method)  # Stripe.js's own call, with the publishable key
app.middlewares.append(stripe_js)
start()
