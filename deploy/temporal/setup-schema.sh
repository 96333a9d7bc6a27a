#!/bin/sh
# Temporal's schema on PostgreSQL, with the admin-tools image's temporal-sql-tool, as Temporal's
# documentation describes for the server image (the all-in-one auto-setup image is deprecated).
# Safe to run on every `docker compose up`: creating an existing database is skipped, and
# update-schema only applies versions not yet applied, so a newer image upgrades in place.
set -eu
# POSTGRES_PASSWORD is the superuser's: a well-known one stops the stack here, before Temporal starts on it.
case "$(printf '%s' "${SQL_PASSWORD:-}" | tr '[:upper:]' '[:lower:]')" in
  "" | temporal | postgres | password | renewals | secret | changeme | admin)
    echo "POSTGRES_PASSWORD is empty or a well-known default: set a long random one (openssl rand -hex 32)" >&2
    exit 1 ;;
esac
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }
for db in temporal temporal_visibility; do
  tool --db "$db" create || echo "database $db exists"
done
tool --db temporal setup-schema -v 0.0 || true
tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
tool --db temporal_visibility setup-schema -v 0.0 || true
tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal schema is up to date"
