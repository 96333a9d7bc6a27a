-- Sign-ins and sessions are deleted a day after they stop working (services/account.py, on each
-- sign-in): these indexes keep that delete from reading the whole table.
CREATE INDEX account_sign_ins_expires ON account_sign_ins (expires_at);
CREATE INDEX account_sessions_expires ON account_sessions (expires_at);
