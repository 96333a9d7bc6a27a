-- The buyer's account (R24): one-time sign-in links and sessions. Neither the link's token nor the
-- session cookie is stored: a sign-in is found by its random id (the link carries it with a signature),
-- a session by the SHA-256 of its cookie.
CREATE TABLE account_sign_ins (
    id text PRIMARY KEY,
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX account_sign_ins_email ON account_sign_ins (lower(email), created_at);

CREATE TABLE account_sessions (
    id_hash text PRIMARY KEY,
    email text NOT NULL,
    csn text REFERENCES customers (csn),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at timestamptz
);
