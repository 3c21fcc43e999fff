#!/bin/bash
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d): one
# login role and one database, owned by it, per service in CLEARMESH_DATABASES; each role's
# password is the secret /run/secrets/<name>-db-password (deploy/make-secrets.sh). A service
# can reach only its own database: CONNECT is revoked from PUBLIC. CLEARMESH_DB_SECRETS_DIR
# replaces /run/secrets (the test runs this script against a local server).
# A volume initialised before a service was added does not run this again: create the role and
# database by hand (docs/deployment.md "PostgreSQL").
set -euo pipefail

: "${CLEARMESH_DATABASES:?list the service databases, e.g. clearing bank-adapter wallet}"

for name in $CLEARMESH_DATABASES; do
  password_file="${CLEARMESH_DB_SECRETS_DIR:-/run/secrets}/$name-db-password"
  if [ ! -r "$password_file" ]; then
    echo "init-databases: $password_file is missing; mount the $name-db-password secret" >&2
    exit 1
  fi
  password=$(tr -d '\r\n' <"$password_file")
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "init-databases: created role and database $name"
done
