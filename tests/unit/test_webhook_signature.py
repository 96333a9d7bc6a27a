"""The webhook signature header (docs/api.md, Webhooks): `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    "header",
    [
        f"t={'9' * 5000},v1={'0' * 64}",  # more digits than int() takes from a string
        f"t={'1' * 4000},v1={'0' * 64}",  # a number no clock reaches
        f"t=²,v1={'0' * 64}",  # str.isdigit() says yes, int() says no
        f"t=١٨٠٠٠٠٠٠٠٠,v1={'0' * 64}",  # Arabic-Indic digits: int() takes them, a signature never has them
        f"t={NOW},v1={'é' * 64}",  # hmac.compare_digest raises TypeError on non-ASCII text
        f"t={NOW},v1=\u00e9",
        f"t={NOW},v1={'F' * 64}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t= {NOW},v1={'0' * 64}",
        "t=,v1=",
        "=,=,,",
        "\x00",
        "t=1,v1=" + "0" * 100_000,
    ],
)
def test_verify_never_raises_on_a_malformed_header(header: str) -> None:
    assert verify(SECRET, header, BODY, NOW) is False


def test_verify_takes_only_ascii_digits_in_the_timestamp() -> None:
    """The real header still verifies after the stricter parsing; the same time in other digits does not."""
    good = signature(SECRET, NOW, BODY)
    assert verify(SECRET, good, BODY, NOW) is True
    other_digits = good.replace(str(NOW), str(NOW).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
    assert verify(SECRET, other_digits, BODY, NOW) is False


header_part = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"t=[0-9²³¹٠-٩]{0,20}", fullmatch=True),
    st.from_regex(r"v1=[0-9a-fA-Fé]{0,70}", fullmatch=True),
    *map(st.just, signature(SECRET, NOW, BODY).split(",")),
)
clock = st.one_of(st.integers(min_value=NOW - 400, max_value=NOW + 400), st.integers(-(2**70), 2**70))


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.lists(header_part, max_size=4).map(",".join), clock)
def test_verify_answers_true_or_false_for_any_header_and_clock(header: str, now: int) -> None:
    """Hypothesis: whatever the header and the clock, a bool and no exception; True only for the real one."""
    answer = verify(SECRET, header, BODY, now)
    assert isinstance(answer, bool)
    if answer:
        real_t, real_v1 = signature(SECRET, NOW, BODY).split(",")
        assert real_t in header.split(",") and real_v1 in header.split(",") and abs(now - NOW) <= 300
