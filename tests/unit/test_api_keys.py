"""API keys (RENEWALS_API_KEYS) are exactly `name:secret:read|write`, parsed once when the app is built: a
malformed entry stops the start naming the entry by position and name, never by its secret. Each key has a
rate limit (429 with Retry-After). The API here runs on a stand-in application: no store, no Temporal."""

import secrets
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from domain.errors import BadInput
from runtime import settings as settings_module
from runtime.settings import ApiKey, Settings, parse_api_keys
from tests.helpers import BASE
from web import api as api_module
from web.api import ERRORS, RateLimit, create_api
from workers.demo_data import ACME

SECRET = "s3cret-not-to-be-shown"


class StandIn:
    """What the routes reach of the application, recording what they were asked."""

    def __init__(self) -> None:
        self.created: list = []

        async def find(*_args, **_kwargs) -> list:
            return []

        async def create(*args, **kwargs):
            self.created.append((args, kwargs))
            raise AssertionError("a quote was created")

        self.quotes = SimpleNamespace(find=find, create=create)


def client(keys: list[ApiKey], rate_limit: RateLimit | None = None) -> tuple[httpx.AsyncClient, StandIn]:
    stand_in = StandIn()
    api = create_api(lambda: stand_in, keys, rate_limit)  # type: ignore[arg-type,return-value]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=BASE), stand_in


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def refusal(given: str) -> str:
    with pytest.raises(BadInput) as refused:
        Settings(renewals_api_keys=given).api_keys()
    assert SECRET not in refused.value.message
    return refused.value.message


def test_a_key_entry_without_a_scope_stops_the_start(monkeypatch, tmp_path: Path) -> None:
    """`renewals web` builds its app with app_from_settings: a `name:secret` entry stops it there, before
    it serves anything, naming the entry by position and name."""
    from web.app import app_from_settings

    monkeypatch.setenv("RENEWALS_VAR", str(tmp_path))
    monkeypatch.setenv("BUYER_LINK_SECRET", secrets.token_urlsafe(32))
    monkeypatch.setenv("RENEWALS_API_KEYS", f"billing:rk_{secrets.token_hex(8)}:write,ci:{SECRET}")
    with pytest.raises(BadInput) as refused:
        app_from_settings()
    assert refused.value.message == 'RENEWALS_API_KEYS: entry 2 ("ci") is not name:secret:read|write'
    assert refusal(f"ci:{SECRET}") == 'RENEWALS_API_KEYS: entry 1 ("ci") is not name:secret:read|write'


def test_key_read_is_refused_not_taken_as_a_write_key() -> None:
    """`key:read` was a key named `key` with the secret `read` and write scope; now it is no entry at all."""
    assert refusal("key:read") == 'RENEWALS_API_KEYS: entry 1 ("key") is not name:secret:read|write'
    assert refusal(f"ops:{SECRET}:write,key:read") == 'RENEWALS_API_KEYS: entry 2 ("key") is not name:secret:read|write'


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (SECRET, "entry 1 (no name) is not name:secret:read|write"),
        (f"ci:{SECRET}:admin", 'entry 1 ("ci") is not name:secret:read|write'),
        (f"ci::{SECRET}", 'entry 1 ("ci") is not name:secret:read|write'),
        (f":{SECRET}:read", "entry 1 (no name) is not name:secret:read|write"),
        ("ci:x:", 'entry 1 ("ci") is not name:secret:read|write'),
        (f"ci:{SECRET}:write:more", 'entry 1 ("ci") is not name:secret:read|write'),
        (f"ci:{SECRET} x:write", 'entry 1 ("ci") is not name:secret:read|write'),
        (f"a:rk_1:read, ,ci:{SECRET}", 'entry 3 ("ci") is not name:secret:read|write'),
        (f"ci:rk_1:read,ci:{SECRET}:write", 'entry 2 ("ci") repeats the name of entry 1'),
        (f"ci:{SECRET}:read,ops:{SECRET}:write", 'entry 2 ("ops") has the same secret as entry 1 ("ci")'),
    ],
)
def test_every_malformed_entry_stops_the_start_named_never_by_its_secret(given: str, message: str) -> None:
    assert refusal(given) == f"RENEWALS_API_KEYS: {message}"


def test_the_secret_is_not_in_a_keys_repr() -> None:
    (key,) = parse_api_keys(f"ci:{SECRET}:write")
    assert SECRET not in repr(key) and SECRET not in str(key) and key.key == SECRET


async def test_a_read_key_cannot_create_a_quote() -> None:
    """RENEWALS_API_KEYS='ci:s3cret:read' is a read key: it lists, and creating a quote is a 403."""
    http, stand_in = client(Settings(renewals_api_keys="ci:s3cret:read").api_keys())
    async with http:
        created = await http.post(
            "/quotes", json={"csn": ACME, "subscriptions": ["SUB-1001"]}, headers=bearer("s3cret")
        )
        listed = await http.get("/quotes", headers=bearer("s3cret"))
    assert created.status_code == 403 and created.json()["error"]["message"] == "the API key 'ci' may only read"
    assert listed.status_code == 200 and stand_in.created == []


async def test_keys_are_parsed_once_at_start(monkeypatch) -> None:
    """The gate compares with the keys create_api was given: no request parses RENEWALS_API_KEYS again (a
    malformed entry used to answer every call with a 500), and create_api takes no unparsed keys."""
    keys = parse_api_keys(f"ci:{SECRET}:write")
    http, _ = client(keys)

    def parsed_again(*_args, **_kwargs):
        raise AssertionError("the keys were parsed again")

    monkeypatch.setattr(ApiKey, "parse", parsed_again)
    monkeypatch.setattr(settings_module, "parse_api_keys", parsed_again)
    monkeypatch.setattr(Settings, "api_keys", parsed_again)
    async with http:
        answers = [(await http.get("/quotes", headers=bearer(SECRET))).status_code for _ in range(3)]
        stranger = await http.get("/quotes", headers=bearer("rk_guess"))
    assert answers == [200, 200, 200] and stranger.status_code == 401
    assert not hasattr(api_module, "_keys")
    with pytest.raises(TypeError):
        create_api(lambda: None, lambda: [f"ci:{SECRET}:write"])  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        create_api(lambda: None, [f"ci:{SECRET}:write"])  # type: ignore[arg-type,list-item,return-value]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_too_many_requests_get_429_with_retry_after() -> None:
    """Each key its own bucket: 60 a minute, 2 at once; the third at once is a 429 with Retry-After and the
    error shape, another key is not held back, and a second later one more goes through."""
    clock = Clock()
    keys = parse_api_keys("ci:rk_ci:read,ops:rk_ops:read")
    http, _ = client(keys, RateLimit(per_minute=60, burst=2, clock=clock))
    async with http:
        first = [(await http.get("/quotes", headers=bearer("rk_ci"))).status_code for _ in range(2)]
        limited = await http.get("/quotes", headers=bearer("rk_ci"))
        other = await http.get("/quotes", headers=bearer("rk_ops"))
        clock.now += 1.0
        later = await http.get("/quotes", headers=bearer("rk_ci"))
        again = await http.get("/quotes", headers=bearer("rk_ci"))
        spec = (await http.get("/openapi.json")).json()
    assert first == [200, 200] and other.status_code == 200 and later.status_code == 200
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["message"] == "the API key 'ci' is over its rate limit; try again later"
    assert again.status_code == 429
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert "429" in operation["responses"], f"{method} {path}"
            assert "Retry-After" in operation["responses"]["429"]["headers"], f"{method} {path}"
    assert 429 in ERRORS


def test_the_rate_limit_refills_to_its_burst_and_says_how_long_to_wait() -> None:
    clock = Clock()
    limit = RateLimit(per_minute=600, burst=3, clock=clock)
    assert [limit.take("ci") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("ci") == pytest.approx(0.1)
    clock.now += 3600
    assert [limit.take("ci") for _ in range(4)][-1] == pytest.approx(0.1)  # never more than the burst


def test_the_rate_limit_and_the_audit_window_are_settings() -> None:
    given = Settings(api_rate_limit=120, api_rate_burst=10, audit_window_days=7)
    assert (given.api_rate_limit, given.api_rate_burst, given.audit_window_days) == (120, 10, 7)
    defaults = Settings()
    assert (defaults.api_rate_limit, defaults.api_rate_burst, defaults.audit_window_days) == (600, 100, 35)


async def test_what_schemathesis_found_a_405_names_every_method_and_a_day_is_only_yyyy_mm_dd() -> None:
    """Its unsupported_method check: `OPTIONS /quotes` named only POST in `Allow` (Starlette names the first
    route's methods); its negative_data_rejection check: `/audit?since=0` was taken as 1970-01-01."""
    http, _ = client(parse_api_keys("ci:rk_ci:write"))
    async with http:
        options = await http.options("/quotes", headers=bearer("rk_ci"))
        since = await http.get("/audit", params={"since": "0"}, headers=bearer("rk_ci"))
    assert options.status_code == 405 and options.headers["allow"] == "GET, HEAD, POST"
    assert since.status_code == 422 and since.json()["error"]["field"] == "since"
