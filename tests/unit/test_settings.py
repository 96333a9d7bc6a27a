"""Settings from the environment: the SDK's client configuration names, the older names, secrets kept secret."""

import pytest
from temporalio.envconfig import ClientConfigProfile

from domain.errors import BadInput
from runtime.client import client_environment
from runtime.settings import Settings


def connect_config(settings: Settings, monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return dict(ClientConfigProfile.load(override_env_vars=client_environment(settings)).to_client_connect_config())


def test_api_key_turns_tls_on_and_stays_secret(monkeypatch) -> None:
    settings = Settings(
        temporal_address="ns.acct.tmprl.cloud:7233",
        temporal_namespace="ns.acct",
        temporal_api_key="key-123",
        buyer_link_secret="s3cret",
        database_url="postgresql://u:pw@db/x",
    )
    config = connect_config(settings, monkeypatch)
    assert (config["target_host"], config["namespace"], config["api_key"], config["tls"]) == (
        "ns.acct.tmprl.cloud:7233",
        "ns.acct",
        "key-123",
        True,
    )
    shown = repr(settings)
    assert "key-123" not in shown and "s3cret" not in shown and "pw@" not in shown
    assert settings.require_database_url() == "postgresql://u:pw@db/x"


def test_sdk_and_older_names_for_client_certificates(tmp_path, monkeypatch) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("CERT")
    key.write_text("KEY")
    older = connect_config(Settings(temporal_tls_cert=str(cert), temporal_tls_key=str(key)), monkeypatch)
    sdk = connect_config(
        Settings(), monkeypatch, TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert), TEMPORAL_TLS_CLIENT_KEY_PATH=str(key)
    )
    for config in (older, sdk):
        assert (config["tls"].client_cert, config["tls"].client_private_key) == (b"CERT", b"KEY")


def test_link_secrets_newest_first_or_the_one() -> None:
    assert Settings(buyer_link_secrets="new, old").require_link_secrets() == ["new", "old"]
    assert Settings(buyer_link_secret="one").require_link_secrets() == ["one"]


def test_api_keys_parse_names_and_scopes() -> None:
    settings = Settings(renewals_api_keys="billing:rk_1:write, reports:rk_2:read ,")
    assert [(k.name, k.key, k.scope) for k in settings.api_keys()] == [
        ("billing", "rk_1", "write"),
        ("reports", "rk_2", "read"),
    ]
    with pytest.raises(BadInput) as bad:
        Settings(renewals_api_keys="billing:rk_1:admin").api_keys()
    assert "billing" in bad.value.message and "rk_1" not in bad.value.message


@pytest.mark.parametrize(
    ("given", "days"), [("7,1", (7, 1)), ("1, 7, 7", (7, 1)), (" 3 ", (3,)), ("", ()), ("60,1", (60, 1))]
)
def test_r22_reminder_days_from_quote_reminder_days(given: str, days: tuple[int, ...]) -> None:
    assert Settings(quote_reminder_days=given).reminder_days() == days


@pytest.mark.parametrize("given", ["7;1", "0", "-1", "61", "seven", "1.5"])
def test_r22_reminder_days_that_are_not_days_stop_the_service_naming_the_setting(given: str) -> None:
    with pytest.raises(BadInput, match="QUOTE_REMINDER_DAYS"):
        Settings(quote_reminder_days=given).reminder_days()


@pytest.mark.parametrize(
    ("given", "queues"),
    [("quotes,calendars", ("quotes", "calendars")), ("calendars", ("calendars",)), (" quotes , quotes", ("quotes",))],
)
def test_worker_queues_name_the_task_queues_a_worker_polls(given: str, queues: tuple[str, ...]) -> None:
    assert Settings(worker_queues=given).queues() == queues


@pytest.mark.parametrize("given", ["", "quote", "quotes,payments"])
def test_unknown_worker_queues_stop_the_worker_naming_the_setting(given: str) -> None:
    with pytest.raises(BadInput, match="WORKER_QUEUES"):
        Settings(worker_queues=given).queues()


def test_renewals_payments_is_the_fake_unless_stripe_is_named(monkeypatch) -> None:
    monkeypatch.delenv("RENEWALS_PAYMENTS", raising=False)
    assert Settings().renewals_payments == "fake"
    monkeypatch.setenv("RENEWALS_PAYMENTS", "stripe")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_local")
    monkeypatch.setenv("STRIPE_API_BASE", "http://localhost:8420")
    settings = Settings()
    settings.require_payments()
    assert (settings.renewals_payments, settings.stripe_api_base) == ("stripe", "http://localhost:8420")


@pytest.mark.parametrize("key", [None, "", "  "])
def test_stripe_without_its_api_key_refuses_to_start_naming_the_setting(key: str | None) -> None:
    settings = Settings(renewals_payments="stripe", stripe_api_key=key)
    with pytest.raises(BadInput) as refused:
        settings.require_payments()
    assert refused.value.message == "RENEWALS_PAYMENTS=stripe needs STRIPE_API_KEY (Stripe's secret key, sk_...)"


def test_r29_the_vendors_iban_and_bic_are_checked_and_compact() -> None:
    assert Settings().bank_account() == ("NL91ABNA0417164300", "ABNANL2A")
    assert Settings(vendor_iban="nl91 abna 0417 1643 00").bank_account()[0] == "NL91ABNA0417164300"
    with pytest.raises(BadInput, match="VENDOR_IBAN: 'NL92ABNA0417164300' is not a valid IBAN"):
        Settings(vendor_iban="NL92ABNA0417164300").bank_account()
    with pytest.raises(BadInput, match="VENDOR_BIC: 'ABN' is not a valid BIC"):
        Settings(vendor_bic="ABN").bank_account()
