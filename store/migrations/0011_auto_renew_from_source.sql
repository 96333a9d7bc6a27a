-- R18, R03: whether a row's auto-renew switch is the source's own, as the last load that changed the row left
-- it. A load read while a quote held the switch (or a stale export of a term this system renewed) keeps the
-- system's value, which its calendar must not take for the source's once the holds have ended.
ALTER TABLE subscriptions ADD COLUMN auto_renew_from_source boolean NOT NULL DEFAULT true;
