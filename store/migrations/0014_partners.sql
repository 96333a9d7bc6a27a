-- Registered agents (R08, R25, R26): a buyer's answer to a partner's quote is emailed to the partner, and a
-- renewal may move to a partner listed here.
CREATE TABLE partners (
    csn         text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    language    text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'nl')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
