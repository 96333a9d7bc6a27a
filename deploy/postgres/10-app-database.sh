#!/bin/sh
# First start of the PostgreSQL container: the application's own role and database,
# apart from the databases the Temporal schema job creates for Temporal.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE renewals LOGIN PASSWORD '${RENEWALS_DB_PASSWORD}';
CREATE DATABASE renewals OWNER renewals;
SQL
