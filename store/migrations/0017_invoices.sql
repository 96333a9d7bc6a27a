-- R28: invoices and credit notes, numbered from one gapless sequence per year (INV-2026-000001), the number
-- taken in the transaction that records the payment (or the refund): a rollback takes the number back with it.
-- An issued invoice is never changed or deleted: the triggers refuse both.
CREATE TABLE invoice_counters (
    year  integer PRIMARY KEY,
    last  integer NOT NULL CHECK (last > 0)
);

CREATE TABLE invoices (
    number        text PRIMARY KEY,
    year          integer NOT NULL,
    seq           integer NOT NULL CHECK (seq > 0),
    kind          text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    quote_number  text NOT NULL,
    refers_to     text REFERENCES invoices (number),
    issued_at     timestamptz NOT NULL,
    currency      text NOT NULL,
    total         numeric NOT NULL,
    document      jsonb NOT NULL,
    UNIQUE (year, seq),
    UNIQUE (quote_number, kind),
    CHECK (number = 'INV-' || year || '-' || lpad(seq::text, 6, '0')),
    CHECK ((kind = 'credit_note') = (refers_to IS NOT NULL))
);

CREATE FUNCTION invoices_are_never_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice % was issued: it is never changed or deleted (R28)', OLD.number
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_are_never_changed();
CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_are_never_changed();
