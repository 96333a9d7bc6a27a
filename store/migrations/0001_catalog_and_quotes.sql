-- Customers, their subscriptions, the price book and promotions: what `renewals load` writes.
CREATE TABLE customers (
    csn         text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    address     text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id              text PRIMARY KEY,
    csn             text NOT NULL REFERENCES customers (csn),
    product         text NOT NULL,
    seats           integer NOT NULL CHECK (seats >= 1),
    term            text NOT NULL CHECK (term IN ('monthly', 'annual', '3-year')),
    currency        char(3) NOT NULL,
    purchase_method text NOT NULL CHECK (purchase_method IN ('direct', 'partner')),
    partner_csn     text,
    offering        text NOT NULL CHECK (offering IN ('standard', 'success-plan', 'value-based')),
    start_date      date NOT NULL,
    end_date        date NOT NULL,
    auto_renew      boolean NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date > start_date),
    CHECK ((purchase_method = 'partner') = (partner_csn IS NOT NULL))
);
CREATE INDEX subscriptions_csn ON subscriptions (csn);

CREATE TABLE prices (
    product     text NOT NULL,
    term        text NOT NULL,
    currency    char(3) NOT NULL,
    unit_price  numeric NOT NULL CHECK (unit_price >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product, term, currency)
);

CREATE TABLE promotions (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    percent_off numeric CHECK (percent_off > 0 AND percent_off <= 100),
    amount_off  numeric CHECK (amount_off > 0),
    products    text[] NOT NULL,
    terms       text[] NOT NULL,
    currencies  text[] NOT NULL,
    kinds       text[] NOT NULL,
    starts      date NOT NULL,
    ends        date NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((percent_off IS NULL) <> (amount_off IS NULL)),
    CHECK (ends >= starts)
);

-- Quotes: numbers come from a sequence (Q-000123); the workflow quote-<number> owns the state.
CREATE SEQUENCE quote_number_seq;

CREATE TABLE quotes (
    number          text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('renewal', 'co-term', 'new')),
    origin          text NOT NULL CHECK (origin IN ('self-service', 'partner', 'sales', 'auto')),
    csn             text NOT NULL REFERENCES customers (csn),
    currency        char(3) NOT NULL,
    partner_csn     text,
    state           text NOT NULL CHECK (state IN ('draft', 'sent', 'accepted', 'paid', 'expired', 'cancelled')),
    address         text NOT NULL,
    subtotal        numeric NOT NULL DEFAULT 0,
    discount_total  numeric NOT NULL DEFAULT 0,
    total           numeric NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_csn_state ON quotes (csn, state);

CREATE TABLE quote_lines (
    quote_number    text NOT NULL REFERENCES quotes (number) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    subscription_id text REFERENCES subscriptions (id),
    product         text NOT NULL,
    seats           integer NOT NULL CHECK (seats >= 1),
    term            text NOT NULL,
    unit_price      numeric NOT NULL,
    amount          numeric NOT NULL,
    discount        numeric NOT NULL DEFAULT 0,
    promotion_code  text,
    PRIMARY KEY (quote_number, line_no)
);

CREATE TABLE quote_recipients (
    quote_number    text NOT NULL REFERENCES quotes (number) ON DELETE CASCADE,
    email           text NOT NULL,
    is_buyer        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (quote_number, email)
);

-- One row per message handed to SMTP; the Message-ID is derived from quote and recipient,
-- so a retried email activity finds its own row and sends nothing twice.
CREATE TABLE sent_mail (
    message_id      text PRIMARY KEY,
    quote_number    text NOT NULL,
    recipient       text NOT NULL,
    purpose         text NOT NULL,
    subject         text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sent_mail_quote ON sent_mail (quote_number);

-- What happened to each quote, in order; event_key makes each write idempotent.
CREATE TABLE quote_events (
    id              bigserial PRIMARY KEY,
    quote_number    text NOT NULL,
    event_key       text NOT NULL,
    event           text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (quote_number, event_key)
);
