#!/bin/bash
# pg-2..4: clone pg-1 once with pg_basebackup, then run as a streaming standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h pg-1 -U postgres; do sleep 1; done
    export PGPASSWORD="$REPLICATION_PASSWORD"
    pg_basebackup -h pg-1 -U repmgr -D "$PGDATA" -X stream -R -S "$SLOT_NAME" \
        -d "application_name=$HOSTNAME"
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c cluster_name="$HOSTNAME"
