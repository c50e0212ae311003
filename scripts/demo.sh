#!/usr/bin/env bash
# Brings up the demo: installs what is missing, builds SwiftPool (release), starts a local
# PostgreSQL cluster (primary 15501, standbys 15502-15504) and SwiftPool in front of it on
# 127.0.0.1:15432 with the reference settings (config/demo).
#   scripts/demo.sh          start (idempotent)
#   scripts/demo.sh stop     stop SwiftPool and the cluster
set -euo pipefail
cd "$(dirname "$0")/.."
conf=config/demo/pgpool.conf
run_dir=run
mkdir -p "$run_dir"

if [ "${1:-}" = "stop" ]; then
    .build/release/swiftpool -f "$conf" stop -m fast 2>/dev/null || true
    scripts/pg-cluster.sh down
    exit 0
fi

scripts/install-deps.sh
scripts/build-release.sh
scripts/pg-cluster.sh up

if .build/release/swiftpool -f "$conf" reload >/dev/null 2>&1; then
    echo "SwiftPool is already running; configuration reloaded."
else
    nohup .build/release/swiftpool -f "$conf" -a config/demo/pool_hba.conf -n >"$run_dir/swiftpool.log" 2>&1 &
    for _ in $(seq 1 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/15432) 2>/dev/null; then break; fi
        sleep 0.1
    done
    if ! (exec 3<>/dev/tcp/127.0.0.1/15432) 2>/dev/null; then
        echo "SwiftPool did not start; its log:" >&2
        tail -n 40 "$run_dir/swiftpool.log" >&2
        exit 1
    fi
fi
cat <<MSG

SwiftPool is listening on 127.0.0.1:15432 (log: $run_dir/swiftpool.log).
Connect with:
    PGPASSWORD=readwrite456 psql -h 127.0.0.1 -p 15432 -U app_readwrite swiftpool_test
Metrics and the admin API:
    curl -s localhost:9719/metrics
    curl -s -u pcpadmin:pcpadminpass localhost:9719/api/v1/nodes
Stop everything with:
    scripts/demo.sh stop
MSG
