#!/bin/sh
# First start of the PostgreSQL container: the application's own role and database,
# apart from the databases the Temporal schema job creates for Temporal.
# The password stays out of every statement's text: psql takes it from the environment (\getenv, not its
# command line) and quotes it as a literal (:'pw', so any character is safe), and this session logs no
# statement, not even one that fails, whatever log_statement the server runs with.
set -eu
: "${RENEWALS_DB_PASSWORD:?set RENEWALS_DB_PASSWORD}"
psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET password_encryption = 'scram-sha-256';
\getenv pw RENEWALS_DB_PASSWORD
CREATE ROLE renewals LOGIN PASSWORD :'pw';
\unset pw
CREATE DATABASE renewals OWNER renewals;
SQL
