-- Who recorded an offline payment, when known: `api:<key name>` for the backend API.
ALTER TABLE payments ADD COLUMN recorded_by text;
