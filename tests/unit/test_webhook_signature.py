"""The webhook signature header (DESIGN, Webhooks): `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""

import hashlib
import hmac

from domain.webhooks import receiver_id, signature, verify

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"quote.paid"}'
NOW = 1_800_000_000


def test_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


def test_webhook_signature_verified_only_for_this_body_secret_and_a_recent_time() -> None:
    header = signature(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, NOW + 10)
    assert not verify(SECRET, header, BODY.replace(b"paid", b"sent"), NOW)
    assert not verify("whsec_other", header, BODY, NOW)
    assert not verify(SECRET, header, BODY, NOW + 301)
    assert not verify(SECRET, None, BODY, NOW)
    assert not verify(SECRET, "t=abc,v1=00", BODY, NOW)
    assert not verify(SECRET, f"t={NOW}", BODY, NOW)


def test_webhook_receiver_id_keeps_the_url_out_of_histories() -> None:
    url = "https://billing.example/hooks?token=secret"
    assert receiver_id(url) == receiver_id(url) != receiver_id("https://billing.example/other")
    assert "secret" not in receiver_id(url) and len(receiver_id(url)) == 12
