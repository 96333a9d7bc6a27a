"""The pay page with Stripe: its policy lets in Stripe.js and where 3-D Secure leads, and nothing else; the
form's only card datum is a PaymentMethod id."""

import pytest

from domain.errors import BadInput
from runtime.settings import Settings
from web.stripe_checkout import StripeCheckout, payment_method_of, stripe_checkout_of


def test_the_policy_with_stripe_admits_its_script_api_frames_and_the_banks_page_only() -> None:
    policy = StripeCheckout("pk_live_x", "https://js.stripe.com/v3/").policy()
    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com;" in policy
    assert "connect-src https://api.stripe.com;" in policy
    assert "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;" in policy
    assert "form-action 'self' https://hooks.stripe.com;" in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy


def test_the_policy_with_a_local_stripe_admits_that_one_address() -> None:
    policy = StripeCheckout("pk_test_x", "http://127.0.0.1:8420/js.stripe.com/v3/").policy()
    assert "script-src 'self' http://127.0.0.1:8420;" in policy
    assert "form-action 'self' http://127.0.0.1:8420;" in policy
    assert "stripe.com" not in policy


@pytest.mark.parametrize(
    "posted", ["", "tok_visa", "pm_", "pm_1 2", "pm_card_visa\n", "4242424242424242", "pm_" + "a" * 121]
)
def test_r16_anything_but_a_payment_method_id_is_refused(posted: str) -> None:
    assert payment_method_of(posted) is None


def test_r16_a_payment_method_id_passes() -> None:
    assert payment_method_of("pm_1OaBcD") == "pm_1OaBcD"


def test_stripe_without_a_publishable_key_stops_the_start_naming_it() -> None:
    with pytest.raises(BadInput, match="STRIPE_PUBLISHABLE_KEY"):
        stripe_checkout_of(Settings(renewals_payments="stripe", stripe_api_key="sk_test_x"))
    with pytest.raises(BadInput, match="STRIPE_PUBLISHABLE_KEY"):
        stripe_checkout_of(Settings(renewals_payments="stripe", stripe_publishable_key="sk_test_x"))  # the secret one


def test_stripe_js_comes_from_stripe_or_the_local_stripe() -> None:
    real = Settings(renewals_payments="stripe", stripe_publishable_key="pk_test_x")
    local = real.model_copy(update={"stripe_api_base": "http://127.0.0.1:8420/"})
    assert stripe_checkout_of(real) == StripeCheckout("pk_test_x", "https://js.stripe.com/v3/")
    assert stripe_checkout_of(local) == StripeCheckout("pk_test_x", "http://127.0.0.1:8420/js.stripe.com/v3/")
    assert stripe_checkout_of(Settings()) is None  # the fake: the product's own card form
