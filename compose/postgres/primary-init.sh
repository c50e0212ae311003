#!/bin/bash
# Runs once on pg-1 (docker-entrypoint-initdb.d): the replication and application users, the
# replication slots of the standbys, and host-based access for the compose network.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE repmgr LOGIN REPLICATION PASSWORD '${REPLICATION_PASSWORD}';
GRANT pg_monitor TO repmgr;
CREATE ROLE app_readwrite LOGIN PASSWORD '${APP_PASSWORD}';
CREATE DATABASE app OWNER app_readwrite;
SELECT pg_create_physical_replication_slot('pg_2');
SELECT pg_create_physical_replication_slot('pg_3');
SELECT pg_create_physical_replication_slot('pg_4');
SQL
cat >> "$PGDATA/pg_hba.conf" <<HBA
host replication repmgr all scram-sha-256
host all all all scram-sha-256
HBA
