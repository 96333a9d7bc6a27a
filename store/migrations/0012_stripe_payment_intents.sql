-- RENEWALS_PAYMENTS=stripe: the PaymentIntent made for each quote's key, stored before it is confirmed, so
-- a charge whose answer was lost is settled by retrieving it (R20), and a webhook finds its quote.
CREATE TABLE stripe_payment_intents (
    idempotency_key text PRIMARY KEY,
    intent_id       text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
