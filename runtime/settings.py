"""Settings from the environment; `renewals dev` writes var/dev.env as the fallback."""

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from stdnum import bic, iban
from stdnum.exceptions import ValidationError

from domain.errors import BadInput
from domain.webhooks import receiver_id

TASK_QUEUE = "renewal-quotes"


def var_dir() -> Path:
    """Where the embedded stack keeps its state: RENEWALS_VAR, else ./var."""
    return Path(os.environ.get("RENEWALS_VAR", "var")).resolve()


def dev_env_file() -> Path:
    return var_dir() / "dev.env"


class ApiKey(BaseModel):
    """A backend system's key: its name goes into what it did (`by: api:<name>`), scopes its
    Idempotency-Keys and its rate limit; a `read` key changes nothing. The secret is left out of its repr."""

    name: str
    key: str = Field(repr=False)
    scope: Literal["read", "write"]

    @classmethod
    def parse(cls, entry: str, position: int = 1) -> "ApiKey":
        """One entry of RENEWALS_API_KEYS, exactly `name:secret:read|write`; anything else is refused naming
        the entry by its position and name, never by its secret."""
        match = API_KEY_ENTRY.fullmatch(entry)
        if match is None:
            raise BadInput(f"RENEWALS_API_KEYS: entry {position} ({_entry_name(entry)}) is not name:secret:read|write")
        name, secret, scope = match.groups()
        return cls(name=name, key=secret, scope=scope)


# A name as `api:<name>` records it; a secret of visible ASCII but `:` and `,` (which separate), as a bearer token.
API_KEY_ENTRY = re.compile(r"([A-Za-z0-9_.-]{1,64}):([!-+\--9;-~]+):(read|write)")


def _entry_name(entry: str) -> str:
    """How an error names an entry: its first part when there is a second (so it is not the secret) and it
    looks like a name."""
    name, colon, _ = entry.partition(":")
    return f'"{name}"' if colon and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) else "no name"


def parse_api_keys(given: str) -> list[ApiKey]:
    """RENEWALS_API_KEYS: comma-separated `name:secret:read|write` entries (empty ones are skipped, but
    counted in the positions). A malformed entry, or a name or a secret given twice, stops the start."""
    keys: dict[int, ApiKey] = {}
    for position, entry in enumerate((part.strip() for part in given.split(",")), start=1):
        if not entry:
            continue
        key = ApiKey.parse(entry, position)
        for earlier, other in keys.items():
            if other.name == key.name:
                raise BadInput(
                    f'RENEWALS_API_KEYS: entry {position} ("{key.name}") repeats the name of entry {earlier}'
                )
            if other.key == key.key:
                raise BadInput(
                    f'RENEWALS_API_KEYS: entry {position} ("{key.name}") has the same secret as entry {earlier} '
                    f'("{other.name}")'
                )
        keys[position] = key
    return list(keys.values())


class Settings(BaseSettings):
    """Environment variables win over var/dev.env, which wins over the defaults."""

    model_config = SettingsConfigDict(extra="ignore", env_file_encoding="utf-8")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = TASK_QUEUE
    database_url: SecretStr | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 8025
    smtp_starttls: bool = False
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Renewal quotes <quotes@renewals.example>"
    # R26: where a buyer's answer to a sales quote goes (and to a partner's quote whose partner has no email on
    # file); empty: MAIL_FROM's address.
    sales_email: str | None = None
    buyer_app_url: str = "http://localhost:8000"
    buyer_link_secret: SecretStr | None = None
    buyer_link_secrets: SecretStr | None = None
    renewals_api_keys: SecretStr | None = None
    webhook_urls: str | None = None
    webhook_secret: SecretStr | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    # The largest request body a route takes, refused with 413 before it is parsed.
    api_max_body_bytes: int = Field(default=1 << 20, gt=0)
    form_max_body_bytes: int = Field(default=64 << 10, gt=0)
    # Each API key's rate limit, per web process: API_RATE_LIMIT requests a minute, up to API_RATE_BURST at
    # once; beyond it, 429 with Retry-After.
    api_rate_limit: int = Field(default=600, gt=0)
    api_rate_burst: int = Field(default=100, gt=0)
    # `renewals ops audit` asks the payment provider about the quotes of the last AUDIT_WINDOW_DAYS days
    # (accepted, paid, refunded or ended since, or still open); --since DATE or --all for more.
    audit_window_days: int = Field(default=35, gt=0)
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    # The SDK's names (TEMPORAL_TLS_CLIENT_CERT_PATH, ...) are read by it directly; these older names still work.
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    worker_shutdown_grace: float = 30.0
    worker_max_concurrent_activities: int = 100
    worker_max_concurrent_workflow_tasks: int = 100
    worker_max_cached_workflows: int = 1000
    # The task queues a worker process polls: `quotes` (TEMPORAL_TASK_QUEUE), `calendars` (its `-calendars`).
    worker_queues: str = "quotes,calendars"
    # Workflows in the SDK's sandbox, which refuses non-deterministic calls at run time (docs/scaling.md).
    worker_sandbox: bool = True
    metrics_port: int | None = None
    # Who else may read the web app's /metrics, with `Authorization: Bearer <token>` (this machine always may).
    renewals_metrics_token: SecretStr | None = None
    # The payment provider (docs/payments.md): `fake`, the local one with test cards, or `stripe`, with its
    # secret key, the signing secret of its webhooks, and another API address (a local localstripe).
    renewals_payments: Literal["fake", "stripe"] = "fake"
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    # Stripe.js's key (pk_...), with which the pay page turns the card typed in Stripe's field into a pm_... id.
    stripe_publishable_key: str | None = None
    # How long a buyer waits for a payment before hearing it is being confirmed (R20).
    payment_wait_seconds: float = Field(default=20.0, gt=0, le=300)
    # R22: the days before a sent or accepted quote expires that its recipients are reminded, e.g. "7,1";
    # an empty value sends no reminders.
    quote_reminder_days: str = "7,1"
    # R29: the vendor's account a bank transfer pays into, on the quote emails and PDFs (a demo IBAN by default).
    vendor_iban: str = "NL91ABNA0417164300"
    vendor_bic: str = "ABNANL2A"
    log_level: str = "INFO"
    # How a log line reads (runtime/log_lines.py): `text`, readable in a terminal, or `json`, one object a line.
    renewals_log_format: str = "text"

    @classmethod
    def load(cls) -> "Settings":
        return cls(_env_file=dev_env_file())

    def queues(self) -> tuple[str, ...]:
        """WORKER_QUEUES as names; an unknown name or none at all stops the worker at start, naming it."""
        names = tuple(dict.fromkeys(part.strip() for part in self.worker_queues.split(",") if part.strip()))
        if not names or not set(names) <= {"quotes", "calendars"}:
            raise BadInput(f"WORKER_QUEUES: {self.worker_queues!r} is not a list of quotes and calendars")
        return names

    def reminder_days(self) -> tuple[int, ...]:
        """QUOTE_REMINDER_DAYS as days, largest first; a value that is not a list of days from 1 to 60 stops
        the service at start, naming the setting."""
        given = [part.strip() for part in self.quote_reminder_days.split(",") if part.strip()]
        if not all(part.isdigit() and 1 <= int(part) <= 60 for part in given):
            raise BadInput(f"QUOTE_REMINDER_DAYS: {self.quote_reminder_days!r} is not a list of days from 1 to 60")
        return tuple(sorted({int(part) for part in given}, reverse=True))

    def bank_account(self) -> tuple[str, str]:
        """VENDOR_IBAN and VENDOR_BIC, checked (python-stdnum) and compact: a wrong one would send every bank
        transfer astray, so it stops the service at start, naming the setting."""
        try:
            account = iban.validate(self.vendor_iban)
        except ValidationError:
            raise BadInput(f"VENDOR_IBAN: {self.vendor_iban[:40]!r} is not a valid IBAN") from None
        try:
            return account, bic.validate(self.vendor_bic)
        except ValidationError:
            raise BadInput(f"VENDOR_BIC: {self.vendor_bic[:40]!r} is not a valid BIC") from None

    def require_database_url(self) -> str:
        if not self.database_url:
            raise BadInput("no database: start the stack with `renewals dev`, or set DATABASE_URL")
        return self.database_url.get_secret_value()

    def metrics_token(self) -> str | None:
        """RENEWALS_METRICS_TOKEN, if set and not empty (an empty one admits nobody)."""
        token = self.renewals_metrics_token.get_secret_value() if self.renewals_metrics_token else ""
        return token or None

    def api_keys(self) -> list["ApiKey"]:
        """RENEWALS_API_KEYS, comma-separated: the bearer keys the backend API accepts (none: it refuses all),
        each exactly `name:secret:read|write`. Read once, when the app is built: a malformed entry stops the
        start (exit 2), naming the entry by position and name."""
        return parse_api_keys(self.renewals_api_keys.get_secret_value() if self.renewals_api_keys else "")

    def webhook_receivers(self) -> dict[str, str]:
        """WEBHOOK_URLS (comma-separated) by receiver id; none configured: no webhooks."""
        urls = [url.strip() for url in (self.webhook_urls or "").split(",") if url.strip()]
        return {receiver_id(url): url for url in urls}

    def require_webhook_secret(self) -> str:
        if self.webhook_urls and not self.webhook_secret:
            raise BadInput("WEBHOOK_URLS is set but WEBHOOK_SECRET is not: webhooks are signed with it")
        return self.webhook_secret.get_secret_value() if self.webhook_secret else ""

    def require_payments(self) -> None:
        """What the payment provider cannot start without; checked by `renewals worker`, `web` and `dev`."""
        if self.renewals_payments == "stripe":
            self.require_stripe_key()

    def stripe_webhook_secret_if_on(self) -> str | None:
        """STRIPE_WEBHOOK_SECRET when Stripe is the provider: the web app serves POST /webhooks/stripe then."""
        if self.renewals_payments != "stripe" or not self.stripe_webhook_secret:
            return None
        return self.stripe_webhook_secret.get_secret_value() or None

    def stripe_checkout_if_on(self) -> tuple[str, str] | None:
        """With Stripe: the publishable key and Stripe.js's address (`<STRIPE_API_BASE>/js.stripe.com/v3/` for a
        local localstripe), which the pay page loads; None with the fake, whose card form is the product's own."""
        if self.renewals_payments != "stripe":
            return None
        key = (self.stripe_publishable_key or "").strip()
        if not key.startswith("pk_"):
            raise BadInput(
                "RENEWALS_PAYMENTS=stripe needs STRIPE_PUBLISHABLE_KEY (Stripe's publishable key, pk_...): the pay "
                "page collects the card with it"
            )
        base = (self.stripe_api_base or "").rstrip("/")
        return key, f"{base}/js.stripe.com/v3/" if base else "https://js.stripe.com/v3/"

    def require_stripe_key(self) -> str:
        """STRIPE_API_KEY, which RENEWALS_PAYMENTS=stripe cannot start without (exit 2, naming both)."""
        key = self.stripe_api_key.get_secret_value().strip() if self.stripe_api_key else ""
        if not key:
            raise BadInput("RENEWALS_PAYMENTS=stripe needs STRIPE_API_KEY (Stripe's secret key, sk_...)")
        return key

    def require_link_secrets(self) -> list[str]:
        """BUYER_LINK_SECRETS (comma-separated, newest first: the newest signs, all verify), else the one
        BUYER_LINK_SECRET."""
        given = self.buyer_link_secrets or self.buyer_link_secret
        secrets = [s.strip() for s in (given.get_secret_value() if given else "").split(",") if s.strip()]
        if not secrets:
            raise BadInput("no BUYER_LINK_SECRETS: start the stack with `renewals dev`, or set it")
        return secrets

    def require_production_secrets(self) -> None:
        """What `renewals worker` and `renewals web` refuse to start with (exit 2, naming the setting, never
        showing its value): a DATABASE_URL whose password is a well-known default or empty over the network,
        and a buyer link or webhook secret shorter than SECRET_MIN_LENGTH or a placeholder. `renewals dev`
        passes: its secrets are long and random, and its embedded PostgreSQL is reached on a local socket
        without a password (peer or trust authentication on this machine, nothing to guess from the network)."""
        if self.database_url:
            why = _weak_database_password(self.database_url.get_secret_value())
            if why:
                raise BadInput(f"DATABASE_URL: {why}")
        name = "BUYER_LINK_SECRETS" if self.buyer_link_secrets else "BUYER_LINK_SECRET"
        links = self.require_link_secrets()  # every one verifies links, so every one must be strong
        given = {f"{name} (secret {n} of {len(links)})" if len(links) > 1 else name: s for n, s in enumerate(links, 1)}
        if self.webhook_secret and self.webhook_secret.get_secret_value():  # its absence: require_webhook_secret
            given["WEBHOOK_SECRET"] = self.webhook_secret.get_secret_value()
        for setting, secret in given.items():
            why = _weak_secret(secret)
            if why:
                raise BadInput(f"{setting}: {why}; make one with `openssl rand -hex 32`")


# Passwords DATABASE_URL may not carry outside `renewals dev`: the old defaults of docker-compose.yml, the
# PostgreSQL images' examples, and what people type first. Compared without case.
WEAK_DATABASE_PASSWORDS = frozenset({"renewals", "temporal", "postgres", "password", "secret", "changeme", "admin"})
# Buyer link and webhook secrets: `openssl rand -hex 32` gives 64 characters, `renewals dev` 43.
SECRET_MIN_LENGTH = 32
PASSWORD_ADVICE = "give the role a long random password (openssl rand -hex 32; RENEWALS_DB_PASSWORD in compose)"
PLACEHOLDERS = ("changeme", "change-me", "change_me", "placeholder", "replace", "example", "openssl rand", "random")


def _weak_database_password(url: str) -> str | None:
    """Why a connection string's password is unfit for production, or None. Without one in it, libpq takes
    PGPASSWORD; with no password at all, only a local socket (or a client certificate) is accepted."""
    from psycopg import conninfo  # the command line's other commands do not need it

    try:
        info = conninfo.conninfo_to_dict(url)
    except Exception:
        return "it is not a PostgreSQL connection string"  # libpq's message would quote it, password and all
    password = str(info.get("password") or os.environ.get("PGPASSWORD", ""))
    if not password:
        hosts = [h for h in str(info.get("host") or os.environ.get("PGHOST", "")).split(",") if h]
        local = not info.get("hostaddr") and all(h.startswith(("/", "@")) for h in hosts)
        if local or info.get("sslcert") or os.environ.get("PGSSLCERT"):
            return None
        return f"it has no password, and it connects over the network; {PASSWORD_ADVICE}"
    if password.lower() in WEAK_DATABASE_PASSWORDS or password == info.get("user"):
        return f"its password is a well-known default; {PASSWORD_ADVICE}"
    return None


def _weak_secret(secret: str) -> str | None:
    """Why a signing secret is unfit for production, or None; never the secret itself."""
    if len(secret) < SECRET_MIN_LENGTH:
        return f"it is shorter than {SECRET_MIN_LENGTH} characters"
    if any(word in secret.lower() for word in PLACEHOLDERS):
        return "it is a placeholder, not a random string"
    if len(set(secret)) < 10:
        return "it repeats a few characters, so it is not random"
    return None
