-- Faults (R20, R21): a recipient the mail server refuses is recorded, not retried; the fake provider's
-- fault cards; which quote holds each subscription's term reserved, mirrored for `renewals ops audit`.
ALTER TABLE sent_mail DROP CONSTRAINT IF EXISTS sent_mail_status_check;
ALTER TABLE sent_mail
    ADD CONSTRAINT sent_mail_status_check CHECK (status IN ('sending', 'sent', 'refused')),
    ADD COLUMN failure text;

ALTER TABLE fake_gateway_methods ADD COLUMN fault text CHECK (fault IN ('unavailable', 'answer-lost'));

-- When a fault card's fault began for an idempotency key: the provider misbehaves for a while from then.
CREATE TABLE fake_gateway_faults (
    idempotency_key text PRIMARY KEY,
    fault           text NOT NULL,
    since           timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE subscriptions ADD COLUMN reserved_by text;
