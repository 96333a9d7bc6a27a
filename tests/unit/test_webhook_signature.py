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


def test_webhook_signature_accepted_until_exactly_the_tolerance_either_way() -> None:
    header = signature(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, NOW + 300) and verify(SECRET, header, BODY, NOW - 300)
    assert not verify(SECRET, header, BODY, NOW - 301)
    assert verify(SECRET, header, BODY, NOW + 30, tolerance=30) and not verify(
        SECRET, header, BODY, NOW + 31, tolerance=30
    )


def test_webhook_signature_header_parts_in_any_order_and_malformed_ones_refused_not_raised() -> None:
    t, v1 = signature(SECRET, NOW, BODY).split(",")
    assert verify(SECRET, f"{v1},{t}", BODY, NOW)
    assert verify(SECRET, f"{t},junk,{v1}", BODY, NOW)
    assert not verify(SECRET, f"{t},{v1}=00", BODY, NOW)
    assert not verify(SECRET, f"{t}=1,{v1}", BODY, NOW)
    assert not verify(SECRET, "", BODY, NOW)
