-- The renewal calendar: auto-renewals priced like quotes, lapsed subscriptions, one auto quote per term.
ALTER TABLE renewals
    ADD COLUMN amount    numeric,
    ADD COLUMN currency  char(3);

ALTER TABLE subscriptions ADD COLUMN lapsed_on date;

-- R12: the number of the auto-generated quote of a subscription term, allocated once.
CREATE TABLE auto_quotes (
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    term_end        date NOT NULL,
    quote_number    text NOT NULL UNIQUE,
    PRIMARY KEY (subscription_id, term_end)
);

-- Mail about a subscription rather than a quote: the auto-renewal confirmation.
ALTER TABLE sent_mail
    ALTER COLUMN quote_number DROP NOT NULL,
    ADD COLUMN subscription_id text;
