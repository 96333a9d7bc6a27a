-- R25: what a quote's renewal changed beside the term (the subscription's seats, term, partner and currency
-- before it), so that a renewal its calendar refused is taken back whole, and a stale export does not undo a
-- partner or currency move this system made.
ALTER TABLE renewals ADD COLUMN previous jsonb;
