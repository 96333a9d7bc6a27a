"""The pay page with Stripe (docs/payments.md): the card is typed in Stripe.js's own field and becomes a
PaymentMethod in the buyer's browser, so card details never reach this server; the page posts only its id.

Only that page lets Stripe in: its Content-Security-Policy adds Stripe.js's origin (its script, its frames,
its API) and the origin of the bank's authentication page (3-D Secure), where the pay form's answer may send
the buyer. Every other page keeps the policy without scripts (web/security.py).
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime.settings import Settings

# Stripe's own origins, as its CSP guide lists them: Stripe.js, its API, and the frames of 3-D Secure.
STRIPE_JS = "https://js.stripe.com"
STRIPE_JS_HOSTS = "https://*.js.stripe.com"
STRIPE_API = "https://api.stripe.com"
STRIPE_HOOKS = "https://hooks.stripe.com"
# What Stripe.js posts: a PaymentMethod id, nothing else.
PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,120}")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class StripeCheckout:
    """Stripe.js's publishable key and address (`https://js.stripe.com/v3/`, or a local localstripe's)."""

    publishable_key: str
    script_url: str

    def policy(self) -> str:
        """The pay page's CSP: ours, plus Stripe.js and where its 3-D Secure leads, and nothing else."""
        if origin(self.script_url) == STRIPE_JS:
            script = f"{STRIPE_JS} {STRIPE_JS_HOSTS}"
            connect, frames, authenticate = STRIPE_API, f"{STRIPE_JS} {STRIPE_JS_HOSTS} {STRIPE_HOOKS}", STRIPE_HOOKS
        else:  # a local Stripe (localstripe) serves all of it from its one address
            local = origin(self.script_url)
            script = connect = frames = authenticate = local
        return (
            f"default-src 'none'; script-src 'self' {script}; connect-src {connect}; frame-src {frames}; "
            f"style-src 'self'; img-src 'self'; form-action 'self' {authenticate}; frame-ancestors 'none'; "
            "base-uri 'none'"
        )


def payment_method_of(value: str) -> str | None:
    """The posted PaymentMethod id, or None for anything else (refused before anything is asked of Stripe)."""
    return value if PAYMENT_METHOD.fullmatch(value) else None


def stripe_checkout_of(settings: Settings) -> StripeCheckout | None:
    """With RENEWALS_PAYMENTS=stripe, the pay page's Stripe.js (exit 2 without STRIPE_PUBLISHABLE_KEY)."""
    checkout = settings.stripe_checkout_if_on()
    return None if checkout is None else StripeCheckout(*checkout)
