-- The backend API: an Idempotency-Key of POST /api/v1/quotes names one quote, for one request body.
CREATE TABLE api_idempotency_keys (
    key          text PRIMARY KEY,
    fingerprint  text NOT NULL,
    quote_number text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
