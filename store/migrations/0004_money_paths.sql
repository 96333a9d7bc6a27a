-- Money paths (R16-R18): how a quote was paid, auto-renewals that could not run, calendars to tell
-- of a load, and the ledger of the local fake payment provider.
ALTER TABLE payments
    ADD COLUMN method      text NOT NULL DEFAULT 'offline' CHECK (method IN ('card', 'offline')),
    ADD COLUMN refunded_at timestamptz;

-- An auto-renewal that failed for a business reason (no price): shown by `renewals ops stuck`
-- while the term it was for is still the subscription's current one.
CREATE TABLE auto_renew_failures (
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    term_end        date NOT NULL,
    reason          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, term_end)
);

-- A load bumps source_version of each row it inserts or changes; the calendar is told until
-- calendar_synced_version catches up, so a sync that failed is retried by the next load.
ALTER TABLE subscriptions
    ADD COLUMN source_version          bigint NOT NULL DEFAULT 1,
    ADD COLUMN calendar_synced_version bigint NOT NULL DEFAULT 0;

-- The local fake payment provider (PAYMENT_GATEWAY=fake): payment-method tokens without card
-- digits, and charges kept once per idempotency key.
CREATE TABLE fake_gateway_methods (
    token       text PRIMARY KEY,
    brand       text NOT NULL,
    decline     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fake_gateway_charges (
    idempotency_key text PRIMARY KEY,
    charge_id       text NOT NULL UNIQUE,
    token           text NOT NULL REFERENCES fake_gateway_methods (token),
    amount          numeric NOT NULL CHECK (amount >= 0),
    currency        char(3) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    refunded_at     timestamptz
);
