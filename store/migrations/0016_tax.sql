-- R28: tax follows the customer's country and VAT number; the vendor and the dated rates come from the data
-- file. A rate is never changed in place by a later file that overlaps it: `renewals load` refuses that.
ALTER TABLE customers ADD COLUMN country text CHECK (country ~ '^[A-Z]{2}$');
ALTER TABLE customers ADD COLUMN vat_number text;

CREATE TABLE vendor (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    name        text NOT NULL,
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    vat_number  text NOT NULL,
    address     text NOT NULL,
    iban        text,
    bic         text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tax_rates (
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    rate        numeric(7, 4) NOT NULL CHECK (rate >= 0 AND rate <= 100),
    valid_from  date NOT NULL,
    valid_to    date CHECK (valid_to IS NULL OR valid_to >= valid_from),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country, valid_from)
);
