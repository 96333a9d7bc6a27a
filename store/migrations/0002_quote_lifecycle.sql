-- The quote lifecycle: snapshots written by revision, auto-renew holds, renewals, payments.
ALTER TABLE quotes
    ADD COLUMN revision          integer NOT NULL DEFAULT 0,
    ADD COLUMN customer_name     text,
    ADD COLUMN buyer_email       text,
    ADD COLUMN pause_auto_renew  boolean NOT NULL DEFAULT false,
    ADD COLUMN pricing_error     text,
    ADD COLUMN accepted_at       timestamptz,
    ADD COLUMN paid_at           timestamptz,
    ADD COLUMN ended_at          timestamptz,
    ADD COLUMN document          jsonb;

ALTER TABLE quote_lines
    ADD COLUMN current_seats integer,
    ADD COLUMN current_term  text,
    ADD COLUMN end_date      date;

-- The subscription workflow owns auto-renew; these mirror it, newest version wins.
ALTER TABLE subscriptions ADD COLUMN auto_renew_version bigint NOT NULL DEFAULT 0;

CREATE TABLE auto_renew_holds (
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    quote_number    text NOT NULL,
    PRIMARY KEY (subscription_id, quote_number)
);

-- One row per subscription term renewed: the primary key is what makes a renewal happen once.
CREATE TABLE renewals (
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    from_end_date   date NOT NULL,
    to_end_date     date NOT NULL,
    seats           integer NOT NULL,
    term            text NOT NULL,
    source          text NOT NULL CHECK (source IN ('quote', 'auto-renew')),
    quote_number    text,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, from_end_date)
);

CREATE TABLE payments (
    quote_number    text PRIMARY KEY,
    reference       text NOT NULL,
    amount          numeric NOT NULL,
    currency        char(3) NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);

-- 'sending' is written before the SMTP call, 'sent' after it.
ALTER TABLE sent_mail ADD COLUMN status text NOT NULL DEFAULT 'sent' CHECK (status IN ('sending', 'sent'));
