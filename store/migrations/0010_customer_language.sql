-- A customer's language (docs/cli.md, the data file): its quote emails, reminders and PDFs are written in it.
ALTER TABLE customers ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'nl'));
