"""localstripe as the Stripe adapter's tests run it: `python tests/localstripe_server.py STORE --port N
--from-scratch`. Its store is pickled to STORE, a file of the test session's own (localstripe always writes
/tmp/localstripe.pickle, which two test processes would share), and its confirm takes what Stripe's takes
(`payment_method`, `return_url`), which localstripe refuses."""

import pickle
import sys

from localstripe import resources

STORE = sys.argv.pop(1)


def dump_to_disk(self: resources.Store) -> None:
    with open(STORE, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)


def confirm(id: str, payment_method: str | None = None, return_url: str | None = None, **kwargs):
    """Stripe's confirm with a (new) payment method; `return_url` matters only for a redirect, which
    localstripe never makes."""
    intent = resources.PaymentIntent._api_retrieve(id)
    if payment_method is not None:
        resources.PaymentMethod._api_retrieve(payment_method)  # 404 for an unknown one, as Stripe
        intent.payment_method = payment_method
        if intent.latest_charge is not None and intent.latest_charge.status == "failed":
            intent.latest_charge = None  # a declined intent takes another card, as Stripe's does
    return ORIGINAL(id, **kwargs)


ORIGINAL = resources.PaymentIntent._api_confirm
resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]
resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
resources.extra_apis[:] = [(m, u, confirm if f == ORIGINAL else f) for m, u, f in resources.extra_apis]

from localstripe.server import start  # noqa: E402  (builds its routes from extra_apis at import)

start()
