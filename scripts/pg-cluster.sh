#!/usr/bin/env bash
# pg-cluster.sh — a throw-away PostgreSQL streaming-replication cluster for
# SwiftPool's integration tests and local experiments.
#
# Node 0 is the primary, nodes 1..N are streaming standbys; node I listens on
# 127.0.0.1 port PG_BASE_PORT+I.  Run "pg-cluster.sh help" for the usage text.
set -euo pipefail

PROG=$(basename "$0")

usage() {
    cat <<EOF
Usage: $PROG COMMAND [ARGS]

Commands:
  up [--standbys N]     create (first run) and/or start the cluster, then wait
                        until every standby streams from the primary.
                        Idempotent: running nodes are left alone.
  down [--purge]        stop every node (fast shutdown). Data is kept unless
                        --purge is given, which also deletes the cluster dir.
  purge                 same as "down --purge".
  status                one line per node: name, port, role, up/down.
                        Exits 1 if any node is down.
  env                   print shell exports (ports, users, passwords); use as
                        eval "\$($PROG env)"
  stop-node I [--immediate]   stop node I (fast; --immediate simulates a crash)
  start-node I          start node I and wait until it accepts connections
  promote I             promote standby I (pg_ctl promote, waits)
  rebuild-node I        stop node I, wipe it and re-clone it as a standby of the
                        current primary (pg_basebackup -R), then start it
  psql I [PSQL-ARGS]    psql to node I as postgres (database postgres)
  help                  this text

Nodes: node0 = primary, node1..nodeN = standbys (application_name = node name).
Ports: node I listens on 127.0.0.1:\$((PG_BASE_PORT + I)), default 15501, 15502, ...

Environment:
  PG_STANDBYS            number of standbys for "up" (default 3; --standbys wins)
  PG_BASE_PORT           port of node0 (default 15501); fixed when the cluster
                         is created
  SWIFTPOOL_CLUSTER_DIR  data, sockets and logs (default /tmp/swiftpool-cluster)
  PG_BIN                 PostgreSQL bin dir (default: newest
                         /usr/lib/postgresql/*/bin)
  PG_UP_TIMEOUT          seconds "up" waits for streaming (default 60)
  PG_LISTEN_ADDRESSES    extra addresses the servers listen on besides
                         127.0.0.1 (and ::1), comma-separated, e.g. the
                         address of a test bridge (default: none)
  PG_HBA_NETWORKS        extra client networks (CIDR, comma- or
                         space-separated) allowed to log in and replicate
                         with SCRAM-SHA-256 (default: none)
                         Both are fixed when the cluster is created.

Every node serves TLS with a certificate for localhost, 127.0.0.1 and ::1 signed by the test
CA \$SWIFTPOOL_CLUSTER_DIR/tls/ca.crt (made with the openssl CLI on first start).

Servers run as the OS user "postgres" when invoked as root, otherwise as the
invoking user.  Logs: \$SWIFTPOOL_CLUSTER_DIR/log/nodeI.log.
Users (SCRAM-SHA-256): postgres/postgrespass (superuser), repmgr/repmgrpass
(replication, pg_monitor), app_readwrite/readwrite456 (owns database
swiftpool_test), app_readonly/readonly123 (pg_read_all_data).
Users with other login methods over TCP (pg_read_all_data): app_md5/md5pass789 (md5, password
stored as an md5 hash), app_plain/plainpass321 (password: clear text).
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

# ---------------------------------------------------------------- settings
CLUSTER_DIR=${SWIFTPOOL_CLUSTER_DIR:-/tmp/swiftpool-cluster}
CLUSTER_DIR=${CLUSTER_DIR%/}
[[ -n $CLUSTER_DIR && $CLUSTER_DIR == /* ]] || die "SWIFTPOOL_CLUSTER_DIR must be an absolute path"
UP_TIMEOUT=${PG_UP_TIMEOUT:-60}
EXTRA_LISTEN=${PG_LISTEN_ADDRESSES:-}
EXTRA_HBA=${PG_HBA_NETWORKS:-}
MARKER=$CLUSTER_DIR/.swiftpool-cluster
STATE_FILE=$CLUSTER_DIR/cluster.env
SOCK_DIR=$CLUSTER_DIR/sock
LOG_DIR=$CLUSTER_DIR/log
TLS_DIR=$CLUSTER_DIR/tls
HOST=127.0.0.1

SUPERUSER=postgres;        SUPERUSER_PASSWORD=postgrespass
REPL_USER=repmgr;          REPL_PASSWORD=repmgrpass
RW_USER=app_readwrite;     RW_PASSWORD=readwrite456
RO_USER=app_readonly;      RO_PASSWORD=readonly123
MD5_USER=app_md5;          MD5_PASSWORD=md5pass789
PLAIN_USER=app_plain;      PLAIN_PASSWORD=plainpass321
TEST_DB=swiftpool_test

find_pg_bin() {
    if [[ -n ${PG_BIN:-} ]]; then
        [[ -x $PG_BIN/postgres ]] || die "PG_BIN=$PG_BIN has no postgres binary"
        echo "$PG_BIN"; return
    fi
    local best
    best=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n $best && -x $best/postgres ]] ||
        die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (run scripts/install-deps.sh)"
    local major
    major=$(basename "$(dirname "$best")")
    [[ ${major%%.*} -ge 15 ]] || die "PostgreSQL $major found in $best; 15 or newer is required"
    echo "$best"
}

# Servers must not run as root: use the postgres OS user when we are root.
if [[ $(id -u) -eq 0 ]]; then
    RUN_USER=postgres
else
    RUN_USER=$(id -un)
fi

as_run_user() {
    # fd 9 is the command lock; servers started from here must not inherit it.
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$RUN_USER" -- "$@" 9>&-)
    else
        "$@" 9>&-
    fi
}

# Base port and standby count: fixed at creation, read back afterwards.
load_state() {
    STORED_BASE_PORT=""; STORED_STANDBYS=""
    if [[ -f $STATE_FILE ]]; then
        STORED_BASE_PORT=$(sed -n 's/^BASE_PORT=//p' "$STATE_FILE")
        STORED_STANDBYS=$(sed -n 's/^STANDBYS=//p' "$STATE_FILE")
        # Extra listen addresses and client networks are part of the cluster once made.
        if grep -q '^LISTEN_EXTRA=' "$STATE_FILE"; then
            EXTRA_LISTEN=$(sed -n 's/^LISTEN_EXTRA=//p' "$STATE_FILE")
            EXTRA_HBA=$(sed -n 's/^HBA_NETWORKS=//p' "$STATE_FILE")
        fi
    fi
    [[ $EXTRA_LISTEN =~ ^[0-9A-Za-z.:,*_-]*$ ]] || die "bad PG_LISTEN_ADDRESSES '$EXTRA_LISTEN'"
    EXTRA_HBA=${EXTRA_HBA//,/ }
    local net
    for net in $EXTRA_HBA; do
        [[ $net =~ ^[0-9A-Fa-f.:]+/[0-9]+$ ]] || die "bad network '$net' in PG_HBA_NETWORKS (CIDR expected)"
    done
    if [[ -n $STORED_BASE_PORT ]]; then
        if [[ -n ${PG_BASE_PORT:-} && $PG_BASE_PORT != "$STORED_BASE_PORT" ]]; then
            note "warning: cluster in $CLUSTER_DIR was created with base port $STORED_BASE_PORT; ignoring PG_BASE_PORT=$PG_BASE_PORT"
        fi
        BASE_PORT=$STORED_BASE_PORT
    else
        BASE_PORT=${PG_BASE_PORT:-15501}
    fi
    [[ $BASE_PORT =~ ^[0-9]+$ ]] || die "bad base port '$BASE_PORT'"
    # Nodes that exist on disk (node0..nodeK, contiguous).
    EXISTING_STANDBYS=-1
    local i=0
    while [[ -d $CLUSTER_DIR/node$i ]]; do EXISTING_STANDBYS=$i; i=$((i + 1)); done
    if [[ -n $STORED_STANDBYS ]]; then
        STANDBYS=$STORED_STANDBYS
    elif (( EXISTING_STANDBYS >= 0 )); then
        STANDBYS=$EXISTING_STANDBYS
    else
        STANDBYS=${PG_STANDBYS:-3}
    fi
}

save_state() {
    cat >"$STATE_FILE" <<EOF
BASE_PORT=$BASE_PORT
STANDBYS=$STANDBYS
PG_BIN=$PGBIN
LISTEN_EXTRA=$EXTRA_LISTEN
HBA_NETWORKS=$EXTRA_HBA
EOF
}

node_dir()  { echo "$CLUSTER_DIR/node$1"; }
node_port() { echo $((BASE_PORT + $1)); }
node_log()  { echo "$LOG_DIR/node$1.log"; }

check_index() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || die "node index expected (0..$STANDBYS), got '${1:-}'"
    (( $1 <= STANDBYS )) || die "node $1 does not exist (cluster has nodes 0..$STANDBYS)"
}

# Client calls run as the invoking user; authentication is SCRAM over TCP.
sql_at() {  # sql_at PORT SQL [DB] -> tuples only, unaligned
    local port=$1 sql=$2 db=${3:-postgres}
    PGPASSWORD=$SUPERUSER_PASSWORD PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -A -t -q \
        -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U "$SUPERUSER" -d "$db" -c "$sql"
}

is_running() {  # pg_ctl status returns 0 when a postmaster runs on that data dir
    local dir
    dir=$(node_dir "$1")
    [[ -f $dir/PG_VERSION ]] || return 1
    as_run_user "$PGBIN/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

node_role() {  # primary | standby | unknown
    local r
    r=$(sql_at "$(node_port "$1")" "SELECT pg_is_in_recovery()" 2>/dev/null) || { echo unknown; return; }
    case $r in t) echo standby ;; f) echo primary ;; *) echo unknown ;; esac
}

show_log_tail() {
    local log
    log=$(node_log "$1")
    if [[ -f $log ]]; then
        echo "---- last lines of $log ----" >&2
        tail -n 25 "$log" >&2
        echo "----" >&2
    fi
}

# A test CA and a server certificate for localhost / 127.0.0.1 / ::1 that every node presents
# (made once with the openssl CLI). Clients verify with $TLS_DIR/ca.crt.
ensure_tls() {
    [[ -f $TLS_DIR/server.crt && -f $TLS_DIR/server.key ]] && return 0
    command -v openssl >/dev/null || die "openssl is needed for the nodes' TLS certificates (run scripts/install-deps.sh)"
    as_run_user mkdir -p "$TLS_DIR"
    as_run_user openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" -days 3650 -subj "/CN=SwiftPool test cluster CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1 ||
        die "could not create the test CA in $TLS_DIR"
    as_run_user openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" -subj "/CN=localhost" >/dev/null 2>&1 ||
        die "could not create the server key in $TLS_DIR"
    echo "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" | as_run_user tee "$TLS_DIR/server.ext" >/dev/null
    as_run_user openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
        -CAcreateserial -out "$TLS_DIR/server.crt" -days 3650 -extfile "$TLS_DIR/server.ext" >/dev/null 2>&1 ||
        die "could not sign the server certificate in $TLS_DIR"
    as_run_user chmod 600 "$TLS_DIR/server.key" "$TLS_DIR/ca.key"
}

# Every node serves TLS (clients may still connect in clear text).
write_tls_conf() {  # write_tls_conf I
    local dir
    dir=$(node_dir "$1")
    as_run_user tee "$dir/swiftpool-tls.conf" >/dev/null <<EOF
# Written by scripts/pg-cluster.sh; included from postgresql.conf.
ssl = on
ssl_cert_file = '$TLS_DIR/server.crt'
ssl_key_file = '$TLS_DIR/server.key'
EOF
    if ! grep -q "^include_if_exists = 'swiftpool-tls.conf'" "$dir/postgresql.conf"; then
        echo "include_if_exists = 'swiftpool-tls.conf'" | as_run_user tee -a "$dir/postgresql.conf" >/dev/null
    fi
}

start_node() {  # start_node I  (no-op when running)
    local i=$1 dir
    dir=$(node_dir "$i")
    if is_running "$i"; then return 0; fi
    [[ -f $dir/PG_VERSION ]] ||
        die "node$i: $dir is not a PostgreSQL data directory (broken cluster; run '$PROG down --purge' then '$PROG up')"
    ensure_tls
    write_tls_conf "$i"
    if ! as_run_user "$PGBIN/pg_ctl" -D "$dir" -l "$(node_log "$i")" -w -t 60 start >/dev/null 2>&1; then
        show_log_tail "$i"
        die "node$i (port $(node_port "$i")) failed to start; is the port already in use?"
    fi
}

stop_node() {  # stop_node I [mode]
    local i=$1 mode=${2:-fast}
    if is_running "$i"; then
        as_run_user "$PGBIN/pg_ctl" -D "$(node_dir "$i")" -m "$mode" -w -t 60 stop >/dev/null ||
            die "node$i did not stop"
    fi
}

# Settings common to every node; the per-node port is set here too.
write_node_conf() {  # write_node_conf I
    local i=$1 dir listen senders
    dir=$(node_dir "$i")
    listen=$HOST
    # Also listen on ::1 when the loopback has IPv6.
    if grep -qs '^00000000000000000000000000000001 ' /proc/net/if_inet6; then
        listen="$HOST,::1"
    fi
    [[ -z $EXTRA_LISTEN ]] || listen="$listen,$EXTRA_LISTEN"
    senders=$(( STANDBYS + 8 ))
    (( senders >= 10 )) || senders=10
    as_run_user tee "$dir/swiftpool.conf" >/dev/null <<EOF
# Written by scripts/pg-cluster.sh; included from postgresql.conf.
port = $(node_port "$i")
listen_addresses = '$listen'
unix_socket_directories = '$SOCK_DIR'
unix_socket_permissions = 0777
max_connections = 200
superuser_reserved_connections = 3
password_encryption = 'scram-sha-256'

# Test data only: trade durability for speed.
fsync = off
synchronous_commit = off
shared_buffers = 32MB
work_mem = 4MB
maintenance_work_mem = 16MB
dynamic_shared_memory_type = posix
max_worker_processes = 8
checkpoint_timeout = 30min
max_wal_size = 512MB
min_wal_size = 64MB

# Replication
wal_level = replica
max_wal_senders = $senders
max_replication_slots = $senders
wal_keep_size = 256MB
# pg_rewind (scripts/failover/follow_primary.sh) needs both of these.
wal_log_hints = on
full_page_writes = on
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
recovery_target_timeline = 'latest'

# Also the walreceiver's application_name when primary_conninfo has none
# (a former primary that follow_primary.sh turned into a standby).
cluster_name = 'node$i'

# Logging to the file given to pg_ctl -l
logging_collector = off
log_line_prefix = '%m [%p] node$i %q%u@%d '
log_min_messages = warning
log_connections = off
log_disconnections = off
EOF
    # The base backup copies the primary's include line; add it only once.
    if ! grep -q "^include_if_exists = 'swiftpool.conf'" "$dir/postgresql.conf"; then
        echo "include_if_exists = 'swiftpool.conf'" | as_run_user tee -a "$dir/postgresql.conf" >/dev/null
    fi
}

write_hba() {
    as_run_user tee "$(node_dir 0)/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/pg-cluster.sh.  SCRAM-SHA-256 everywhere but for two users.
# TYPE  DATABASE     USER       ADDRESS        METHOD
local   all          all                       scram-sha-256
local   replication  all                       scram-sha-256
host    all          app_md5    127.0.0.1/32   md5
host    all          app_md5    ::1/128        md5
host    all          app_plain  127.0.0.1/32   password
host    all          app_plain  ::1/128        password
host    all          all    127.0.0.1/32   scram-sha-256
host    all          all    ::1/128        scram-sha-256
host    replication  all    127.0.0.1/32   scram-sha-256
host    replication  all    ::1/128        scram-sha-256
EOF
    local net
    for net in $EXTRA_HBA; do
        printf 'host    all          all    %-14s scram-sha-256\nhost    replication  all    %-14s scram-sha-256\n' \
            "$net" "$net" | as_run_user tee -a "$(node_dir 0)/pg_hba.conf" >/dev/null
    done
}

bootstrap_sql() {
    cat <<EOF
SET client_min_messages = warning;
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES ('$REPL_USER'), ('$RW_USER'), ('$RO_USER'), ('$MD5_USER'), ('$PLAIN_USER')) AS t(name) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r.name);
    END IF;
  END LOOP;
END
\$\$;
ALTER ROLE $SUPERUSER PASSWORD '$SUPERUSER_PASSWORD';
ALTER ROLE $REPL_USER LOGIN REPLICATION PASSWORD '$REPL_PASSWORD';
ALTER ROLE $RW_USER LOGIN PASSWORD '$RW_PASSWORD';
ALTER ROLE $RO_USER LOGIN PASSWORD '$RO_PASSWORD';
ALTER ROLE $PLAIN_USER LOGIN PASSWORD '$PLAIN_PASSWORD';
SET password_encryption = 'md5';
ALTER ROLE $MD5_USER LOGIN PASSWORD '$MD5_PASSWORD';
RESET password_encryption;
GRANT pg_monitor TO $REPL_USER;
GRANT pg_read_all_data TO $RO_USER, $MD5_USER, $PLAIN_USER;
GRANT CREATE ON SCHEMA public TO $RW_USER;
SELECT 'CREATE DATABASE $TEST_DB OWNER $RW_USER'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$TEST_DB') \gexec
\connect $TEST_DB
SET client_min_messages = warning;
GRANT ALL ON SCHEMA public TO $RW_USER;
GRANT USAGE ON SCHEMA public TO $RO_USER;
EOF
}

init_primary() {
    local dir pwfile
    dir=$(node_dir 0)
    pwfile=$CLUSTER_DIR/.pwfile
    as_run_user mkdir -p "$dir"
    as_run_user chmod 700 "$dir"
    printf '%s\n' "$SUPERUSER_PASSWORD" | as_run_user tee "$pwfile" >/dev/null
    if ! as_run_user "$PGBIN/initdb" -D "$dir" -U "$SUPERUSER" --pwfile="$pwfile" \
        -A scram-sha-256 -E UTF8 --locale=C --no-sync --no-instructions \
        >"$LOG_DIR/initdb.log" 2>&1; then
        as_run_user rm -f "$pwfile"
        cat "$LOG_DIR/initdb.log" >&2
        die "initdb failed"
    fi
    as_run_user rm -f "$pwfile"
    write_node_conf 0
    write_hba
}

bootstrap_primary() {
    local out
    if ! out=$(bootstrap_sql | PGPASSWORD=$SUPERUSER_PASSWORD "$PGBIN/psql" -X -q \
        -v ON_ERROR_STOP=1 -h "$HOST" -p "$(node_port 0)" -U "$SUPERUSER" -d postgres 2>&1); then
        echo "$out" >&2
        die "creating roles and database on the primary failed"
    fi
    touch "$CLUSTER_DIR/.bootstrapped"
}

# Clusters made before the md5 and password users existed get them (and their pg_hba.conf
# lines) on the next "up".
add_login_method_users() {  # add_login_method_users PRIMARY_INDEX
    local p=$1 i out
    grep -q "$MD5_USER" "$(node_dir 0)/pg_hba.conf" && return 0
    note "adding the md5 and password login users"
    write_hba
    for ((i = 1; i <= STANDBYS; i++)); do
        [[ -f $(node_dir "$i")/PG_VERSION ]] && as_run_user cp "$(node_dir 0)/pg_hba.conf" "$(node_dir "$i")/pg_hba.conf"
    done
    for ((i = 0; i <= STANDBYS; i++)); do
        is_running "$i" && as_run_user "$PGBIN/pg_ctl" -D "$(node_dir "$i")" reload >/dev/null
    done
    if ! out=$(bootstrap_sql | PGPASSWORD=$SUPERUSER_PASSWORD "$PGBIN/psql" -X -q \
        -v ON_ERROR_STOP=1 -h "$HOST" -p "$(node_port "$p")" -U "$SUPERUSER" -d postgres 2>&1); then
        echo "$out" >&2
        die "creating the md5 and password users on node$p failed"
    fi
}

# The node that is not in recovery; exactly one must exist among running nodes.
current_primary() {
    local i found=""
    for ((i = 0; i <= STANDBYS; i++)); do
        is_running "$i" || continue
        if [[ $(node_role "$i") == primary ]]; then
            if [[ -n $found ]]; then
                note "error: more than one primary (node$found and node$i); run '$PROG down --purge' then '$PROG up'"
                return 2
            fi
            found=$i
        fi
    done
    if [[ -z $found ]]; then
        note "error: no running node is a primary (after a failover test? '$PROG promote I' or '$PROG down --purge' then '$PROG up')"
        return 1
    fi
    echo "$found"
}

clone_standby() {  # clone_standby I PRIMARY_INDEX  (node must not exist or be empty)
    local i=$1 p=$2 dir pport slot
    dir=$(node_dir "$i")
    pport=$(node_port "$p")
    slot=node$i
    # A slot left from an earlier incarnation of this standby would make -C fail.
    sql_at "$pport" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                     WHERE slot_name = '$slot' AND NOT active" >/dev/null ||
        die "could not drop old replication slot $slot on node$p"
    as_run_user rm -rf "$dir"
    as_run_user mkdir -p "$dir"
    as_run_user chmod 700 "$dir"
    if ! as_run_user env PGPASSWORD="$REPL_PASSWORD" "$PGBIN/pg_basebackup" \
        -d "host=$HOST port=$pport user=$REPL_USER application_name=node$i" \
        -D "$dir" -R -X stream -C -S "$slot" -c fast --no-sync \
        >"$LOG_DIR/basebackup-node$i.log" 2>&1; then
        cat "$LOG_DIR/basebackup-node$i.log" >&2
        die "pg_basebackup for node$i from node$p failed"
    fi
    write_node_conf "$i"
}

wait_streaming() {  # wait_streaming PRIMARY_INDEX EXPECTED
    local p=$1 want=$2 deadline n=0 pport
    pport=$(node_port "$p")
    deadline=$((SECONDS + UP_TIMEOUT))
    while :; do
        n=$(sql_at "$pport" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || echo 0)
        (( n >= want )) && return 0
        if (( SECONDS >= deadline )); then
            echo "pg_stat_replication on node$p (port $pport):" >&2
            sql_at "$pport" "SELECT application_name, client_addr, state, sync_state FROM pg_stat_replication" >&2 || true
            die "only $n of $want standbys are streaming after ${UP_TIMEOUT}s (logs in $LOG_DIR; '$PROG down --purge && $PROG up' starts over)"
        fi
        sleep 0.2
    done
}

prepare_dirs() {
    mkdir -p "$CLUSTER_DIR"
    if [[ $(id -u) -eq 0 ]]; then
        id "$RUN_USER" >/dev/null 2>&1 ||
            die "running as root needs the OS user '$RUN_USER' (created by the postgresql package); or run as a non-root user"
        chown "$RUN_USER:" "$CLUSTER_DIR"
    fi
    chmod 755 "$CLUSTER_DIR"
    as_run_user test -w "$CLUSTER_DIR" ||
        die "$CLUSTER_DIR is not writable by OS user $RUN_USER (is a parent directory closed to it?)"
    as_run_user mkdir -p "$SOCK_DIR" "$LOG_DIR"
    as_run_user chmod 755 "$SOCK_DIR" "$LOG_DIR"
    [[ -f $MARKER ]] || as_run_user touch "$MARKER"
}

# ---------------------------------------------------------------- commands
cmd_up() {
    local want="" t0=$SECONDS
    while (( $# )); do
        case $1 in
            --standbys) [[ $# -ge 2 ]] || die "--standbys needs a number"; want=$2; shift 2 ;;
            --standbys=*) want=${1#*=}; shift ;;
            *) die "unknown argument to up: $1" ;;
        esac
    done
    [[ -z $want ]] && want=${PG_STANDBYS:-}
    if [[ -n $want ]]; then
        [[ $want =~ ^[0-9]+$ ]] || die "standby count must be a number, got '$want'"
    fi

    if [[ -d $CLUSTER_DIR && ! -f $MARKER && -n $(ls -A "$CLUSTER_DIR" 2>/dev/null) ]]; then
        die "$CLUSTER_DIR exists, is not empty and was not made by $PROG; choose another SWIFTPOOL_CLUSTER_DIR"
    fi
    local fresh=0
    [[ -f $(node_dir 0)/PG_VERSION ]] || fresh=1
    if (( fresh )) && [[ -d $(node_dir 0) ]]; then
        die "node0 in $(node_dir 0) is incomplete (an earlier 'up' was interrupted?); run '$PROG down --purge' then '$PROG up'"
    fi
    if (( fresh )); then
        STANDBYS=${want:-3}
        [[ -z ${PG_BASE_PORT:-} ]] || BASE_PORT=$PG_BASE_PORT
    elif [[ -n $want && $want -gt $STANDBYS ]]; then
        note "adding standbys: $STANDBYS -> $want"
        STANDBYS=$want
    elif [[ -n $want && $want -lt $STANDBYS ]]; then
        note "warning: cluster has $STANDBYS standbys; keeping them (use '$PROG down --purge' to shrink)"
    fi

    prepare_dirs
    save_state

    if (( fresh )); then
        note "initialising primary node0 in $(node_dir 0)"
        init_primary
    fi
    start_node 0
    [[ -f $CLUSTER_DIR/.bootstrapped ]] || bootstrap_primary

    # Start existing standbys first (parallel), then find the primary to clone from.
    local i pids=() fails=0
    for ((i = 1; i <= STANDBYS; i++)); do
        if [[ -f $(node_dir "$i")/PG_VERSION ]] && ! is_running "$i"; then
            ( start_node "$i" ) & pids+=($!)
        elif [[ -d $(node_dir "$i") && ! -f $(node_dir "$i")/PG_VERSION ]]; then
            # A half-made clone (interrupted pg_basebackup): make it again.
            note "node$i is incomplete; cloning it again"
            as_run_user rm -rf "$(node_dir "$i")"
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || fails=1; done
    (( fails == 0 )) || die "some standbys failed to start"

    local primary
    primary=$(current_primary) || exit 1
    add_login_method_users "$primary"

    pids=()
    for ((i = 1; i <= STANDBYS; i++)); do
        if [[ ! -d $(node_dir "$i") ]]; then
            ( clone_standby "$i" "$primary" && start_node "$i" ) & pids+=($!)
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || fails=1; done
    (( fails == 0 )) || die "creating standbys failed"

    wait_streaming "$primary" "$STANDBYS"
    echo "cluster up in $((SECONDS - t0))s: dir $CLUSTER_DIR, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}')"
    print_status
}

print_status() {
    local i any_down=0 state role extra
    printf '%-6s %-6s %-8s %-5s %s\n' NODE PORT ROLE STATE INFO
    for ((i = 0; i <= STANDBYS; i++)); do
        extra=""
        if is_running "$i"; then
            state=up
            role=$(node_role "$i")
            if [[ $role == standby ]]; then
                extra=$(sql_at "$(node_port "$i")" "SELECT coalesce(status || ' from port ' || sender_port, 'not receiving') FROM pg_stat_wal_receiver RIGHT JOIN (SELECT 1) one ON true" 2>/dev/null || true)
            elif [[ $role == primary ]]; then
                extra="$(sql_at "$(node_port "$i")" "SELECT count(*) FILTER (WHERE state = 'streaming') FROM pg_stat_replication" 2>/dev/null || echo '?') standby(s) streaming"
            fi
        else
            state=down; role=-; any_down=1
        fi
        printf '%-6s %-6s %-8s %-5s %s\n' "node$i" "$(node_port "$i")" "$role" "$state" "$extra"
    done
    return $any_down
}

cmd_status() {
    [[ -f $(node_dir 0)/PG_VERSION ]] || { echo "no cluster in $CLUSTER_DIR (run '$PROG up')"; exit 1; }
    print_status
}

cmd_down() {
    local purge=0
    while (( $# )); do
        case $1 in
            --purge) purge=1; shift ;;
            *) die "unknown argument to down: $1" ;;
        esac
    done
    local i pids=() fails=0
    if [[ -d $CLUSTER_DIR ]]; then
        for ((i = 0; i <= STANDBYS; i++)); do
            [[ -d $(node_dir "$i") ]] || continue
            ( stop_node "$i" fast ) & pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || fails=1; done
    fi
    (( fails == 0 )) || die "some nodes did not stop"
    if (( purge )); then
        if [[ -d $CLUSTER_DIR ]]; then
            [[ -f $MARKER ]] || die "refusing to delete $CLUSTER_DIR: it was not made by $PROG"
            rm -rf "$CLUSTER_DIR"
            echo "cluster stopped and $CLUSTER_DIR removed"
        else
            echo "nothing to purge in $CLUSTER_DIR"
        fi
    else
        echo "cluster stopped (data kept in $CLUSTER_DIR; 'down --purge' removes it)"
    fi
}

cmd_env() {
    local i ports="" sports="" dirs="" primary=0 p
    if [[ -f $(node_dir 0)/PG_VERSION ]]; then
        p=$(current_primary 2>/dev/null) && primary=$p
    fi
    for ((i = 0; i <= STANDBYS; i++)); do ports+="${ports:+ }$(node_port "$i")"; done
    for ((i = 0; i <= STANDBYS; i++)); do dirs+="${dirs:+ }$(node_dir "$i")"; done
    for ((i = 0; i <= STANDBYS; i++)); do
        (( i == primary )) || sports+="${sports:+ }$(node_port "$i")"
    done
    cat <<EOF
export SWIFTPOOL_CLUSTER_DIR='$CLUSTER_DIR'
export PG_BIN='$PGBIN'
export PG_BASE_PORT='$BASE_PORT'
export PG_STANDBYS='$STANDBYS'
export PG_PORTS='$ports'
export PG_PRIMARY_NODE='$primary'
export PG_PRIMARY_PORT='$(node_port "$primary")'
export PG_STANDBY_PORTS='$sports'
export PG_SOCKET_DIR='$SOCK_DIR'
export PG_DATA_DIRS='$dirs'
export PG_LOG_DIR='$LOG_DIR'
export PG_SSL_ROOT_CERT='$TLS_DIR/ca.crt'
export PG_SUPERUSER='$SUPERUSER'
export PG_SUPERUSER_PASSWORD='$SUPERUSER_PASSWORD'
export PG_REPL_USER='$REPL_USER'
export PG_REPL_PASSWORD='$REPL_PASSWORD'
export PG_RW_USER='$RW_USER'
export PG_RW_PASSWORD='$RW_PASSWORD'
export PG_RO_USER='$RO_USER'
export PG_RO_PASSWORD='$RO_PASSWORD'
export PG_TEST_DB='$TEST_DB'
export PGHOST='$HOST'
export PGPORT='$(node_port "$primary")'
export PGUSER='$SUPERUSER'
export PGPASSWORD='$SUPERUSER_PASSWORD'
export PGDATABASE='postgres'
EOF
}

cmd_stop_node() {
    check_index "${1:-}"
    local mode=fast
    [[ ${2:-} == --immediate ]] && mode=immediate
    [[ -z ${2:-} || ${2:-} == --immediate ]] || die "unknown argument: $2"
    if is_running "$1"; then
        stop_node "$1" "$mode"
        echo "node$1 stopped ($mode)"
    else
        echo "node$1 is not running"
    fi
}

cmd_start_node() {
    check_index "${1:-}"
    start_node "$1"
    echo "node$1 up on port $(node_port "$1") ($(node_role "$1"))"
}

cmd_promote() {
    check_index "${1:-}"
    is_running "$1" || die "node$1 is not running"
    [[ $(node_role "$1") == standby ]] || die "node$1 is not a standby"
    as_run_user "$PGBIN/pg_ctl" -D "$(node_dir "$1")" -w -t 60 promote >/dev/null || die "promoting node$1 failed"
    echo "node$1 promoted; role now $(node_role "$1")"
}

cmd_rebuild_node() {
    check_index "${1:-}"
    local i=$1 primary
    primary=$(current_primary) || exit 1
    (( primary != i )) || die "node$i is the current primary"
    stop_node "$i" fast
    clone_standby "$i" "$primary"
    start_node "$i"
    echo "node$i rebuilt as a standby of node$primary (port $(node_port "$primary"))"
}

cmd_psql() {
    check_index "${1:-}"
    local i=$1; shift
    PGPASSWORD=$SUPERUSER_PASSWORD exec "$PGBIN/psql" -X -h "$HOST" -p "$(node_port "$i")" -U "$SUPERUSER" -d postgres "$@"
}

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        help|-h|--help) usage; return 0 ;;
    esac
    PGBIN=$(find_pg_bin)
    # Serialise commands that change the cluster (parallel test runs).
    case $cmd in
        up|down|purge|stop-node|start-node|promote|rebuild-node)
            exec 9>"$CLUSTER_DIR.lock"
            flock -w 300 9 || die "another $PROG holds $CLUSTER_DIR.lock"
            ;;
    esac
    load_state
    case $cmd in
        up)           cmd_up "$@" ;;
        down)         cmd_down "$@" ;;
        purge)        cmd_down --purge ;;
        status)       cmd_status ;;
        env)          cmd_env ;;
        stop-node)    cmd_stop_node "$@" ;;
        start-node)   cmd_start_node "$@" ;;
        promote)      cmd_promote "$@" ;;
        rebuild-node) cmd_rebuild_node "$@" ;;
        psql)         cmd_psql "$@" ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
