#!/usr/bin/env bash
# bench/run.sh — pgbench throughput and latency of SwiftPool against direct
# PostgreSQL (and optionally PgBouncer and Pgpool-II), the proxies' CPU time
# and system calls per transaction, the latency a proxy adds at one client,
# connection-per-transaction throughput, and memory with idle clients.
# Run on purpose, not in CI.
# See bench/README.md; "bench/run.sh --help" for the options.
set -euo pipefail

PROG=bench/run.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CLUSTER_SCRIPT=$REPO_ROOT/scripts/pg-cluster.sh
DEMO_DIR=$REPO_ROOT/config/demo
BENCHLIB=$SCRIPT_DIR/benchlib.py
HOST=127.0.0.1

BINARY=$REPO_ROOT/.build/release/swiftpool
BINARY2=""
NO_LOAD_BALANCE=0
BALANCE=off,one,all
WORKLOADS=s-simple,s-extended,s-prepared,s-connect,lat1,tpcb
SYSCALL_TX=1000
PROFILE=0
SCALE=10
ROUNDS=3
DURATION=15
WITH_PREPARED=0
WITH_PGBOUNCER=0
WITH_PGPOOL=0
IDLE_CLIENTS=100,1000
SKIP_IDLE=0
EVENT_LOOPS=
EVENT_LOOPS2=
LOAD_CHILDREN=64
RESULTS=""

DB=swiftpool_test
APP_USER=app_readwrite
APP_PASSWORD=readwrite456
SUPER_USER=postgres
SUPER_PASSWORD=postgrespass
REPL_USER=repmgr
REPL_PASSWORD=repmgrpass

usage() {
    cat <<EOF
Usage: $PROG [OPTIONS]

Benchmarks SwiftPool against direct PostgreSQL with pgbench, interleaving the
targets round by round, and reports median TPS, average latency, the ratios
target/direct and target/PgBouncer, each proxy's CPU time per transaction, the
latency added at one client, system calls and context switches per
transaction (perf stat), pgbench -C throughput, and RSS under load and with
idle clients. SwiftPool runs once per load-balancing case (--balance).

Options:
  --binary PATH        swiftpool binary (default .build/release/swiftpool)
  --binary2 PATH       a second swiftpool binary, benchmarked as target
                       "swiftpool2" in the same rounds (e.g. before/after a change)
  --balance LIST       SwiftPool cases, comma-separated (default $BALANCE):
                       off = load_balance_mode off, every query to the primary
                       (target "swiftpool"); one = statement-level balancing
                       over the first standby only ("swiftpool-lb1"); all =
                       over every standby ("swiftpool-lball")
  --no-load-balance    the same as --balance off (and load_balance_mode = off
                       for Pgpool-II)
  --workloads LIST     comma-separated (default $WORKLOADS):
                       s-simple s-extended s-prepared: pgbench -S -c 16 -j 2
                       s-connect: pgbench -S -C -c 8 -j 2 (a connection per
                       transaction); lat1: pgbench -S -c 1 (added latency);
                       tpcb: pgbench -c 8 -j 2
  --syscall-tx N       transactions per client for the system-call count
                       (perf stat on each proxy during pgbench -S -t N, at
                       16 clients and at 1); 0 skips it (default $SYSCALL_TX)
  --scale N            pgbench scale factor (default $SCALE)
  --rounds N           rounds over all workloads and targets (default $ROUNDS)
  --duration S         seconds per pgbench run (default $DURATION)
  --profile            also perf record -g each proxy during pgbench -S -c 16
                       for --duration seconds; reports per thread/library and
                       per symbol go to <results>/profile-<target>-*.txt
  --with-prepared      accepted for compatibility (s-prepared is in the
                       default --workloads)
  --with-pgbouncer     also benchmark PgBouncer (transaction mode, to the
                       primary) if the pgbouncer binary is installed
  --with-pgpool        also benchmark Pgpool-II (streaming replication, the
                       reference settings) if the pgpool binary is installed
  --idle-clients LIST  idle connections for the memory test, comma-separated
                       (default $IDLE_CLIENTS); SwiftPool and PgBouncer
  --skip-idle          skip the idle-clients memory test
  --event-loops N      num_event_loops for SwiftPool (default: the config's, one per core)
  --event-loops2 N     num_event_loops for the --binary2 targets (default: as --event-loops)
  --results DIR        where raw outputs go (default /tmp/swiftpool-bench-<timestamp>)
  --config-dir DIR     start SwiftPool from a copy of DIR instead of config/demo
                       (pgpool.conf, pool_passwd, pool_hba.conf, pcp.conf)
  -h, --help           this text

Nothing is built: build the binary first with
  scripts/build-release.sh
The PostgreSQL test cluster is started if needed (scripts/pg-cluster.sh up)
and left running.
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
need_int() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --binary) need_value "$@"; BINARY=$2; shift 2 ;;
        --binary2) need_value "$@"; BINARY2=$2; shift 2 ;;
        --no-load-balance) NO_LOAD_BALANCE=1; BALANCE=off; shift ;;
        --balance) need_value "$@"; BALANCE=$2; shift 2 ;;
        --workloads) need_value "$@"; WORKLOADS=$2; shift 2 ;;
        --syscall-tx) need_value "$@"; [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a number"; SYSCALL_TX=$2; shift 2 ;;
        --scale) need_value "$@"; need_int "$1" "$2"; SCALE=$2; shift 2 ;;
        --rounds) need_value "$@"; need_int "$1" "$2"; ROUNDS=$2; shift 2 ;;
        --duration) need_value "$@"; need_int "$1" "$2"; DURATION=$2; shift 2 ;;
        --with-prepared) WITH_PREPARED=1; shift ;;
        --profile) PROFILE=1; shift ;;
        --with-pgbouncer) WITH_PGBOUNCER=1; shift ;;
        --with-pgpool) WITH_PGPOOL=1; shift ;;
        --idle-clients) need_value "$@"; [[ $2 =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "$1 needs positive integers separated by commas"; IDLE_CLIENTS=$2; shift 2 ;;
        --skip-idle) SKIP_IDLE=1; shift ;;
        --event-loops) need_value "$@"; need_int "$1" "$2"; EVENT_LOOPS=$2; shift 2 ;;
        --event-loops2) need_value "$@"; need_int "$1" "$2"; EVENT_LOOPS2=$2; shift 2 ;;
        --results) need_value "$@"; RESULTS=$2; shift 2 ;;
        --config-dir) need_value "$@"; DEMO_DIR=$(cd "$2" && pwd) || die "no directory $2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

IFS=, read -r -a BALANCE_LIST <<<"$BALANCE"
for b in "${BALANCE_LIST[@]}"; do
    [[ $b == off || $b == one || $b == all ]] || die "--balance: unknown case '$b' (off, one, all)"
done
IFS=, read -r -a WL_KEYS <<<"$WORKLOADS"
for w in "${WL_KEYS[@]}"; do
    [[ $w =~ ^(s-simple|s-extended|s-prepared|s-connect|lat1|tpcb)$ ]] || die "--workloads: unknown workload '$w'"
done
(( WITH_PREPARED )) && [[ ",$WORKLOADS," != *,s-prepared,* ]] && WL_KEYS+=(s-prepared)
IFS=, read -r -a IDLE_LIST <<<"$IDLE_CLIENTS"
EVENT_LOOPS2=${EVENT_LOOPS2:-$EVENT_LOOPS}

# ------------------------------------------------------------ prerequisites
[[ $BINARY == /* ]] || BINARY=$PWD/$BINARY
if [[ ! -x $BINARY ]]; then
    if [[ $BINARY == "$REPO_ROOT/.build/release/swiftpool" ]]; then
        die "$BINARY not found; build it first: (cd $REPO_ROOT && scripts/build-release.sh)"
    fi
    die "$BINARY is not an executable file"
fi
if [[ -n $BINARY2 ]]; then
    [[ $BINARY2 == /* ]] || BINARY2=$PWD/$BINARY2
    [[ -x $BINARY2 ]] || die "$BINARY2 (--binary2) is not an executable file"
fi
command -v python3 >/dev/null || die "python3 is required"
[[ -f $DEMO_DIR/pgpool.conf ]] || die "$DEMO_DIR/pgpool.conf not found (the configuration SwiftPool is started from; see --config-dir)"
if (( ! SKIP_IDLE )); then
    python3 -c "import psycopg" 2>/dev/null ||
        die "the idle-clients test needs psycopg 3 (python3 -c 'import psycopg'); install it or pass --skip-idle"
fi

RESULTS=${RESULTS:-/tmp/swiftpool-bench-$(date +%Y%m%d-%H%M%S)}
[[ $RESULTS == /* ]] || RESULTS=$PWD/$RESULTS
mkdir -p "$RESULTS/raw"
[[ -z $(ls -A "$RESULTS/raw") ]] || die "$RESULTS/raw is not empty; choose another --results directory"
note "results directory: $RESULTS"

# ------------------------------------------------------------ process bookkeeping
declare -A STARTED_NAME=()   # pid -> name
declare -A STARTED_SIG=()    # pid -> signal for a clean stop
SAMPLER_PID=""

# stop_proc PID [TIMEOUT]: clean stop signal, bounded wait, then SIGKILL of its
# process group.  Prints the exit status; notes crashes.
stop_proc() {
    local pid=$1 timeout=${2:-15} name=${STARTED_NAME[$1]:-process} sig=${STARTED_SIG[$1]:-TERM}
    local rc=0 waited=0
    if kill -0 "$pid" 2>/dev/null; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]; do
            if (( waited >= timeout * 10 )); then
                note "$name (pid $pid) still running ${timeout}s after SIG$sig; sending SIGKILL"
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
    fi
    wait "$pid" 2>/dev/null || rc=$?
    case $rc in
        132|133|134|135|136|139) note "$name (pid $pid) crashed: exit status $rc (signal $((rc - 128)))" ;;
    esac
    unset "STARTED_NAME[$pid]" "STARTED_SIG[$pid]"
    echo "$rc"
}

stop_sampler() {
    if [[ -n $SAMPLER_PID ]]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=""
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_sampler
    local pid
    for pid in "${!STARTED_NAME[@]}"; do
        stop_proc "$pid" 15 >/dev/null || true
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# launch NAME SIGNAL LOG CMD...: start CMD in its own session (setsid execs,
# so $! is the command's pid and its process group), remember it.
LAUNCHED_PID=""
launch() {
    local name=$1 sig=$2 log=$3
    shift 3
    setsid "$@" </dev/null >"$log" 2>&1 &
    LAUNCHED_PID=$!
    STARTED_NAME[$LAUNCHED_PID]=$name
    STARTED_SIG[$LAUNCHED_PID]=$sig
}

free_port() { python3 "$BENCHLIB" free-port; }

tail_log() { echo "---- last lines of $1 ----" >&2; tail -n "${2:-40}" "$1" >&2 2>/dev/null || true; echo "----" >&2; }

# wait_ready NAME PID PORT LOG: the port accepts connections within 30 s.
wait_ready() {
    local name=$1 pid=$2 port=$3 log=$4 rc=0
    python3 "$BENCHLIB" wait-port "$port" 30 "$pid" || rc=$?
    case $rc in
        0) return 0 ;;
        2) tail_log "$log"; die "$name exited before listening on port $port" ;;
        *) tail_log "$log"; die "$name did not listen on port $port within 30 s" ;;
    esac
}

# ------------------------------------------------------------ cluster
note "starting the PostgreSQL cluster if needed (scripts/pg-cluster.sh up)"
"$CLUSTER_SCRIPT" up >"$RESULTS/cluster-up.log" 2>&1 || { tail_log "$RESULTS/cluster-up.log"; die "scripts/pg-cluster.sh up failed"; }
CLUSTER_ENV=$("$CLUSTER_SCRIPT" env) || die "scripts/pg-cluster.sh env failed"
eval "$CLUSTER_ENV"
# Keep only what we need; every client below gets its connection explicitly.
unset PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
PRIMARY_PORT=$PG_PRIMARY_PORT
read -r -a STANDBY_PORTS <<<"$PG_STANDBY_PORTS"
read -r -a ALL_PORTS <<<"$PG_PORTS"
PGBENCH=$PG_BIN/pgbench
PSQL=$PG_BIN/psql
[[ -x $PGBENCH && -x $PSQL ]] || die "pgbench/psql not found in $PG_BIN"

# sql PORT USER PASSWORD DB QUERY: one value per line, unaligned.
sql() {
    PGPASSWORD=$3 PGCONNECT_TIMEOUT=10 "$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 \
        -h "$HOST" -p "$1" -U "$2" -d "$4" -c "$5"
}

# ------------------------------------------------------------ pgbench data
pgbench_scale_ok() {
    local have
    have=$(sql "$PRIMARY_PORT" "$APP_USER" "$APP_PASSWORD" "$DB" \
        "SELECT count(to_regclass(t)) FROM unnest(ARRAY['pgbench_accounts','pgbench_branches','pgbench_tellers','pgbench_history']) AS t") || return 1
    [[ $have == 4 ]] || return 1
    have=$(sql "$PRIMARY_PORT" "$APP_USER" "$APP_PASSWORD" "$DB" \
        "SELECT (SELECT count(*) FROM pgbench_branches) || ' ' || (SELECT count(*) FROM pgbench_tellers) || ' ' || (SELECT count(*) FROM pgbench_accounts)") || return 1
    [[ $have == "$SCALE $((SCALE * 10)) $((SCALE * 100000))" ]]
}

if pgbench_scale_ok; then
    note "pgbench data at scale $SCALE already present in $DB"
else
    note "initialising pgbench data (pgbench -i -s $SCALE) in $DB as $APP_USER"
    PGPASSWORD=$APP_PASSWORD "$PGBENCH" -i -s "$SCALE" -q -h "$HOST" -p "$PRIMARY_PORT" -U "$APP_USER" "$DB" \
        >"$RESULTS/pgbench-init.log" 2>&1 || { tail_log "$RESULTS/pgbench-init.log"; die "pgbench -i failed"; }
fi

# Standbys must have replayed everything (Pgpool-II and SwiftPool send reads there).
TARGET_LSN=$(sql "$PRIMARY_PORT" "$SUPER_USER" "$SUPER_PASSWORD" postgres "SELECT pg_current_wal_lsn()")
for sp in "${STANDBY_PORTS[@]}"; do
    deadline=$((SECONDS + 180))
    until [[ $(sql "$sp" "$SUPER_USER" "$SUPER_PASSWORD" postgres \
              "SELECT coalesce(pg_last_wal_replay_lsn() >= '$TARGET_LSN'::pg_lsn, false)" 2>/dev/null) == t ]]; do
        (( SECONDS < deadline )) || die "standby on port $sp has not replayed up to $TARGET_LSN after 180 s"
        sleep 0.5
    done
done
note "standbys (${STANDBY_PORTS[*]}) have replayed up to $TARGET_LSN"

# ------------------------------------------------------------ SwiftPool
SP_PID=""; SP_PORT=""; SP_DIR=""

# start_swiftpool NAME BINARY NUM_INIT_CHILDREN MAX_POOL BALANCE EVENT_LOOPS
# MAX_POOL and EVENT_LOOPS may be empty (the configuration's); BALANCE is
# off, one (statement-level over the first standby) or all (every standby).
# The backends are the cluster's nodes, whatever ports config/demo names.
start_swiftpool() {
    local name=$1 binary=$2 children=$3 max_pool=${4:-} balance=${5:-off} loops=${6:-}
    local dir=$RESULTS/$name f base key
    mkdir -p "$dir/log" "$dir/sock"
    for f in "$DEMO_DIR"/*; do
        [[ -f $f ]] && cp -p "$f" "$dir/"
    done
    for f in pool_passwd pcp.conf; do
        [[ -f $dir/$f ]] && chmod 600 "$dir/$f"
    done
    base=$dir/pgpool.conf
    local port pcp_port
    port=$(free_port); pcp_port=$(free_port)
    {
        echo
        echo "# ---- bench/run.sh overrides (later lines win) ----"
        echo "listen_addresses = '$HOST'"
        echo "port = $port"
        echo "pcp_listen_addresses = '$HOST'"
        echo "pcp_port = $pcp_port"
        echo "pid_file_name = '$dir/swiftpool.pid'"
        echo "logdir = '$dir/log'"
        echo "socket_dir = '$dir/sock'"
        for key in pcp_socket_dir wd_ipc_socket_dir; do
            grep -qE "^[[:space:]]*$key[[:space:]]*=" "$base" && echo "$key = '$dir/sock'"
        done
        { grep -oE '^[[:space:]]*(metrics|http|admin|api|prometheus|exporter)[a-z_]*_port[[:space:]]*=' "$base" || true; } |
            tr -d ' \t=' | sort -u | while read -r key; do echo "$key = $(free_port)"; done
        [[ -f $dir/pool_passwd ]] && echo "pool_passwd = '$dir/pool_passwd'"
        echo "num_init_children = $children"
        [[ -n $max_pool ]] && echo "max_pool = $max_pool"
        echo "connection_cache = on"
        [[ -n $loops ]] && echo "num_event_loops = $loops"
        local i weight
        for i in "${!ALL_PORTS[@]}"; do
            echo "backend_hostname$i = '$HOST'"
            echo "backend_port$i = ${ALL_PORTS[$i]}"
            echo "backend_data_directory$i = '$SWIFTPOOL_CLUSTER_DIR/node$i'"
            weight=1
            (( i == 0 )) && weight=0
            [[ $balance == one ]] && (( i > 1 )) && weight=0
            echo "backend_weight$i = $weight"
        done
        if [[ $balance == off ]]; then
            echo "load_balance_mode = off"
        else
            echo "load_balance_mode = on"
            echo "statement_level_load_balance = on"
            echo "disable_load_balance_on_write = 'transaction'"
        fi
        true
    } >>"$base"
    local cmd=("$binary" -f "$base")
    [[ -f $dir/pool_hba.conf ]] && cmd+=(-a "$dir/pool_hba.conf")
    [[ -f $dir/pcp.conf ]] && cmd+=(-F "$dir/pcp.conf")
    cmd+=(-n)
    echo "${cmd[*]}" >"$dir/command.txt"
    launch "swiftpool ($name)" TERM "$dir/swiftpool.log" "${cmd[@]}"
    SP_PID=$LAUNCHED_PID; SP_PORT=$port; SP_DIR=$dir
    wait_ready "swiftpool" "$SP_PID" "$SP_PORT" "$dir/swiftpool.log"
    local out
    if ! out=$(sql "$SP_PORT" "$APP_USER" "$APP_PASSWORD" "$DB" "SELECT 1" 2>&1) || [[ $out != 1 ]]; then
        tail_log "$dir/swiftpool.log"
        die "SELECT 1 through SwiftPool (port $SP_PORT) failed: $out"
    fi
    note "swiftpool ($name, $binary) pid $SP_PID on port $SP_PORT (num_init_children $children${max_pool:+, max_pool $max_pool}, balance $balance${loops:+, num_event_loops $loops}); log $dir/swiftpool.log"
}

proc_status_kb() {  # PID FIELD -> value in kB (empty if unavailable)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# ------------------------------------------------------------ PgBouncer
# start_pgbouncer [NAME [MAX_CLIENT_CONN]]
PGB_PORT=""; PGB_PID=""
start_pgbouncer() {
    local name=${1:-pgbouncer} max_client=${2:-200}
    local bin
    bin=$(command -v pgbouncer || true)
    [[ -z $bin && -x /usr/sbin/pgbouncer ]] && bin=/usr/sbin/pgbouncer
    if [[ -z $bin ]]; then
        note "NOTE: --with-pgbouncer: pgbouncer is not installed (apt-get install pgbouncer); skipping it"
        return 1
    fi
    local dir=$RESULTS/$name version extra=""
    mkdir -p "$dir"
    version=$("$bin" --version 2>/dev/null | head -n 1 | grep -oE '[0-9]+\.[0-9]+' | head -n 1 || true)
    # Protocol-level prepared statements in transaction mode need PgBouncer 1.21+.
    if [[ -n $version ]] && awk -v v="$version" 'BEGIN { split(v, a, "."); exit !(a[1] > 1 || (a[1] == 1 && a[2] >= 21)) }'; then
        extra="max_prepared_statements = 200"
    else
        TARGET_SKIP[pgbouncer]="s-prepared"
        TARGET_SKIP_WHY[pgbouncer]="PgBouncer ${version:-?} in transaction mode has no prepared-statement support (1.21+)"
    fi
    PGB_PORT=$(free_port)
    printf '"%s" "%s"\n' "$APP_USER" "$APP_PASSWORD" >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$DB = host=$HOST port=$PRIMARY_PORT dbname=$DB

[pgbouncer]
listen_addr = $HOST
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = $max_client
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
$extra
EOF
    chmod 600 "$dir/userlist.txt"
    local run=("$bin" "$dir/pgbouncer.ini")
    if [[ $(id -u) -eq 0 ]]; then
        # PgBouncer refuses to run as root.
        id postgres >/dev/null 2>&1 || { note "NOTE: running as root and no 'postgres' OS user for PgBouncer; skipping it"; return 1; }
        chown -R postgres: "$dir"
        run=(setpriv --reuid=postgres --regid=postgres --init-groups "${run[@]}")
    fi
    launch "$name" TERM "$dir/stdout.log" "${run[@]}"
    PGB_PID=$LAUNCHED_PID
    wait_ready pgbouncer "$PGB_PID" "$PGB_PORT" "$dir/stdout.log"
    note "pgbouncer ${version:-?} pid $PGB_PID on port $PGB_PORT (transaction mode, to port $PRIMARY_PORT, max_client_conn $max_client)"
}

# ------------------------------------------------------------ Pgpool-II
PGP_PORT=""; PGP_PID=""
start_pgpool() {
    local bin
    bin=$(command -v pgpool || true)
    [[ -z $bin && -x /usr/sbin/pgpool ]] && bin=/usr/sbin/pgpool
    if [[ -z $bin ]]; then
        note "NOTE: --with-pgpool: pgpool is not installed (apt-get install pgpool2); skipping it"
        return 1
    fi
    local dir=$RESULTS/pgpool i weight
    mkdir -p "$dir/log" "$dir/sock"
    PGP_PORT=$(free_port)
    local pcp_port; pcp_port=$(free_port)
    {
        echo "backend_clustering_mode = 'streaming_replication'"
        echo "listen_addresses = '$HOST'"
        echo "port = $PGP_PORT"
        echo "socket_dir = '$dir/sock'"
        echo "pcp_listen_addresses = '$HOST'"
        echo "pcp_port = $pcp_port"
        echo "pcp_socket_dir = '$dir/sock'"
        echo "wd_ipc_socket_dir = '$dir/sock'"
        echo "use_watchdog = off"
        echo "pid_file_name = '$dir/pgpool.pid'"
        echo "logdir = '$dir/log'"
        echo "log_destination = 'stderr'"
        echo "logging_collector = off"
        echo "log_min_messages = warning"
        for i in "${!ALL_PORTS[@]}"; do
            weight=1; (( i == 0 )) && weight=0
            echo "backend_hostname$i = '$HOST'"
            echo "backend_port$i = ${ALL_PORTS[$i]}"
            echo "backend_weight$i = $weight"
            echo "backend_application_name$i = 'node$i'"
            echo "backend_flag$i = 'ALLOW_TO_FAILOVER'"
        done
        echo "enable_pool_hba = on"
        echo "pool_passwd = '$dir/pool_passwd'"
        echo "num_init_children = 32"
        echo "max_pool = 4"
        echo "connection_cache = on"
        if (( NO_LOAD_BALANCE )); then echo "load_balance_mode = off"; else echo "load_balance_mode = on"; fi
        echo "statement_level_load_balance = on"
        echo "disable_load_balance_on_write = 'transaction'"
        echo "sr_check_period = 5"
        echo "sr_check_user = '$REPL_USER'"
        echo "sr_check_password = '$REPL_PASSWORD'"
        echo "health_check_period = 10"
        echo "health_check_timeout = 20"
        echo "health_check_user = '$REPL_USER'"
        echo "health_check_password = '$REPL_PASSWORD'"
        echo "health_check_max_retries = 3"
        echo "health_check_retry_delay = 1"
        echo "failover_on_backend_error = off"
    } >"$dir/pgpool.conf"
    printf '%s:TEXT%s\n' "$APP_USER" "$APP_PASSWORD" "$SUPER_USER" "$SUPER_PASSWORD" \
        "$REPL_USER" "$REPL_PASSWORD" >"$dir/pool_passwd"
    printf 'host all all 127.0.0.1/32 scram-sha-256\nlocal all all scram-sha-256\n' >"$dir/pool_hba.conf"
    printf 'pcpadmin:%s\n' "$(printf '%s' pcpadminpass | md5sum | cut -d' ' -f1)" >"$dir/pcp.conf"
    chmod 600 "$dir/pool_passwd" "$dir/pcp.conf"
    # SIGINT = fast shutdown of Pgpool-II.
    launch pgpool INT "$dir/pgpool.log" "$bin" -n -D -f "$dir/pgpool.conf" -a "$dir/pool_hba.conf" -F "$dir/pcp.conf"
    PGP_PID=$LAUNCHED_PID
    wait_ready pgpool "$PGP_PID" "$PGP_PORT" "$dir/pgpool.log"
    # Its children accept connections slightly after the listen socket opens.
    local deadline=$((SECONDS + 30)) out=""
    until out=$(sql "$PGP_PORT" "$APP_USER" "$APP_PASSWORD" "$DB" "SELECT 1" 2>&1) && [[ $out == 1 ]]; do
        (( SECONDS < deadline )) || { tail_log "$dir/pgpool.log"; die "SELECT 1 through Pgpool-II (port $PGP_PORT) failed: $out"; }
        sleep 1
    done
    note "pgpool $("$bin" --version 2>&1 | head -n 1) pid $PGP_PID on port $PGP_PORT"
}

# ------------------------------------------------------------ targets and workloads
TARGETS=(direct standby)
declare -A TARGET_PORT=([direct]=$PRIMARY_PORT [standby]=${STANDBY_PORTS[0]})
declare -A TARGET_PID=()
declare -A TARGET_SKIP=()       # target -> workload keys it cannot run
declare -A TARGET_SKIP_WHY=()
# SwiftPool balances reads over the standbys; one standby, directly, is the other
# yardstick (for the -S workloads at 16 clients).
TARGET_SKIP[standby]="tpcb s-connect lat1"
TARGET_SKIP_WHY[standby]="run only for the -S workloads at 16 clients (tpcb needs the primary)"

# One SwiftPool target per binary and balancing case: swiftpool (off),
# swiftpool-lb1 (one standby), swiftpool-lball (every standby); "swiftpool2..."
# for --binary2.
declare -A SP_BINARY=() SP_BALANCE=() SP_LOOPS=() SP_BASE=()
SP_TARGETS=()
for base in swiftpool swiftpool2; do
    [[ $base == swiftpool2 && -z $BINARY2 ]] && continue
    for b in "${BALANCE_LIST[@]}"; do
        case $b in off) t=$base ;; one) t=$base-lb1 ;; all) t=$base-lball ;; esac
        SP_TARGETS+=("$t")
        SP_BASE[$t]=$base
        SP_BALANCE[$t]=$b
        if [[ $base == swiftpool ]]; then SP_BINARY[$t]=$BINARY; SP_LOOPS[$t]=$EVENT_LOOPS
        else SP_BINARY[$t]=$BINARY2; SP_LOOPS[$t]=$EVENT_LOOPS2; fi
    done
    # The idle test starts its own instance of each binary.
    if [[ $base == swiftpool ]]; then SP_BINARY[$base]=$BINARY; SP_LOOPS[$base]=$EVENT_LOOPS
    else SP_BINARY[$base]=$BINARY2; SP_LOOPS[$base]=$EVENT_LOOPS2; fi
done
for t in "${SP_TARGETS[@]}"; do
    start_swiftpool "$t" "${SP_BINARY[$t]}" "$LOAD_CHILDREN" "" "${SP_BALANCE[$t]}" "${SP_LOOPS[$t]}"
    TARGETS+=("$t")
    TARGET_PORT[$t]=$SP_PORT
    TARGET_PID[$t]=$SP_PID
done

if (( WITH_PGBOUNCER )) && start_pgbouncer; then
    TARGETS+=(pgbouncer); TARGET_PORT[pgbouncer]=$PGB_PORT; TARGET_PID[pgbouncer]=$PGB_PID
fi
if (( WITH_PGPOOL )) && start_pgpool; then
    TARGETS+=(pgpool); TARGET_PORT[pgpool]=$PGP_PORT; TARGET_PID[pgpool]=$PGP_PID
fi

declare -A WL_LABEL=([s-simple]="-S simple   c16" [s-extended]="-S extended c16"
                     [s-prepared]="-S prepared c16" [s-connect]="-S -C simple c8"
                     [lat1]="-S simple   c1" [tpcb]="TPC-B       c8")
declare -A WL_ARGS=([s-simple]="-S -M simple -c 16 -j 2" [s-extended]="-S -M extended -c 16 -j 2"
                    [s-prepared]="-S -M prepared -c 16 -j 2" [s-connect]="-S -C -M simple -c 8 -j 2"
                    [lat1]="-S -M simple -c 1 -j 1" [tpcb]="-c 8 -j 2")

{
    echo "date: $(date -Is)"
    echo "git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') $(git -C "$REPO_ROOT" status --porcelain 2>/dev/null | grep -q . && echo '(dirty)')"
    for t in "${SP_TARGETS[@]}"; do echo "binary $t: ${SP_BINARY[$t]} ($(stat -c '%y' "${SP_BINARY[$t]}")), balance ${SP_BALANCE[$t]}, num_event_loops ${SP_LOOPS[$t]:-as configured}"; done
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
    echo "pgbench: $("$PGBENCH" --version)"
    echo "cpus: $(nproc)"
    echo "scale $SCALE, rounds $ROUNDS, duration $DURATION s"
    echo "uptime before the runs: $(uptime)"
    for t in "${TARGETS[@]}"; do echo "target $t: port ${TARGET_PORT[$t]}${TARGET_PID[$t]:+, pid ${TARGET_PID[$t]}}"; done
    for w in "${WL_KEYS[@]}"; do echo "workload ${WL_LABEL[$w]}: pgbench ${WL_ARGS[$w]} -T $DURATION"; done
} >"$RESULTS/meta.txt"

# Legend for the summary: which binary each SwiftPool target runs.
TARGETS_FILE=$RESULTS/targets.txt
for t in "${SP_TARGETS[@]}"; do
    case ${SP_BALANCE[$t]} in
        off) what="load_balance_mode = off (primary only)" ;;
        one) what="statement-level balancing over one standby" ;;
        all) what="statement-level balancing over ${#STANDBY_PORTS[@]} standbys" ;;
    esac
    echo "binary.$t=${SP_BINARY[$t]}, $what${SP_LOOPS[$t]:+, num_event_loops ${SP_LOOPS[$t]}}"
done >"$TARGETS_FILE"
[[ -n ${TARGET_PID[pgpool]:-} ]] && echo "binary.pgpool=Pgpool-II, $( (( NO_LOAD_BALANCE )) && echo "load_balance_mode = off" || echo "statement-level balancing over ${#STANDBY_PORTS[@]} standbys")" >>"$TARGETS_FILE"

# RSS sampler for the load phase: VmRSS of each SwiftPool and of PgBouncer
# every 0.5 s ("time target kB" lines).
RSS_FILE=$RESULTS/rss.txt
: >"$RSS_FILE"
RSS_TARGETS=("${SP_TARGETS[@]}")
[[ -n ${TARGET_PID[pgbouncer]:-} ]] && RSS_TARGETS+=(pgbouncer)
(
    while true; do
        alive=0
        for t in "${RSS_TARGETS[@]}"; do
            pid=${TARGET_PID[$t]}
            [[ -r /proc/$pid/status ]] || continue
            alive=1
            echo "$(date +%s.%N | cut -c1-14) $t $(proc_status_kb "$pid" VmRSS)"
        done
        (( alive )) || break
        sleep 0.5
    done
) >"$RESULTS/rss-samples-load.txt" 2>/dev/null &
SAMPLER_PID=$!

# proxy_cpu TARGET: CPU seconds so far of the target's processes (each was
# started in a session of its own; Pgpool-II's children are in it too), or "-".
proxy_cpu() {
    local pid=${TARGET_PID[$1]:-}
    if [[ -z $pid ]]; then echo -; return; fi
    python3 "$BENCHLIB" cpu-seconds "$pid" 2>/dev/null || echo -
}

TSV=$RESULTS/results.tsv
printf 'round\tworkload\ttarget\ttps\tlatency_ms\txacts\tproxy_cpu_s\texit\tfile\n' >"$TSV"

run_one() {  # ROUND WORKLOAD_KEY TARGET
    local round=$1 w=$2 t=$3
    local port=${TARGET_PORT[$t]} file=$RESULTS/raw/r$1-$2-$3.txt rc=0
    local -a args
    read -r -a args <<<"${WL_ARGS[$w]}"
    local cmd=("$PGBENCH" "${args[@]}" -T "$DURATION" -h "$HOST" -p "$port" -U "$APP_USER" "$DB")
    echo "# ${cmd[*]}" >"$file"
    local pid=${TARGET_PID[$t]:-} cpu0=- cpu1=- cpu=-
    if [[ " ${TARGET_SKIP[$t]:-} " == *" $w "* ]]; then
        echo "# skipped: ${TARGET_SKIP_WHY[$t]:-not supported by this target}" >>"$file"
        rc=98
    elif [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
        echo "# target process $pid is not running" >>"$file"
        rc=99
    else
        cpu0=$(proxy_cpu "$t")
        PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=10 timeout -k 10 $((DURATION + 120)) \
            "${cmd[@]}" >>"$file" 2>&1 || rc=$?
        cpu1=$(proxy_cpu "$t")
        [[ $cpu0 != - && $cpu1 != - ]] && cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
        echo "# proxy CPU seconds (user+system) before/after: $cpu0 $cpu1" >>"$file"
    fi
    local tps lat xacts tps_shown cpu_shown=""
    IFS=$'\t' read -r tps lat xacts < <(python3 "$BENCHLIB" parse "$file")
    printf -v tps_shown '%.0f' "$tps" 2>/dev/null || tps_shown=$tps
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "${WL_LABEL[$w]}" "$t" "$tps" "$lat" "$xacts" "$cpu" "$rc" "$file" >>"$TSV"
    if [[ $cpu != - && $xacts =~ ^[1-9][0-9]*$ ]]; then
        cpu_shown=$(awk -v c="$cpu" -v n="$xacts" 'BEGIN { printf "  %7.1f us CPU/tx", c / n * 1e6 }')
    fi
    local status=""
    (( rc == 0 )) || status="  FAILED (exit $rc; see $file)"
    (( rc == 124 || rc == 137 )) && status="  TIMED OUT (see $file)"
    (( rc == 98 )) && status="  skipped: $(sed -n 's/^# skipped: //p' "$file")"
    printf '  [round %d/%d] %-16s %-10s %8s tps %8s ms%s%s\n' "$round" "$ROUNDS" "${WL_LABEL[$w]}" "$t" "$tps_shown" "$lat" "$cpu_shown" "$status" >&2
    if (( rc == 99 )); then
        note "$t (pid $pid) is no longer running"
    fi
}

total_runs=$((ROUNDS * ${#WL_KEYS[@]} * ${#TARGETS[@]}))
note "running $total_runs pgbench runs of $DURATION s (about $(( total_runs * (DURATION + 3) / 60 + 1 )) min), targets: ${TARGETS[*]}"
n_targets=${#TARGETS[@]}
for (( round = 1; round <= ROUNDS; round++ )); do
    for w in "${WL_KEYS[@]}"; do
        # Round robin over targets, starting one later each round.
        for (( i = 0; i < n_targets; i++ )); do
            t=${TARGETS[$(( (round - 1 + i) % n_targets ))]}
            run_one "$round" "$w" "$t"
            sleep 1
        done
    done
done

stop_sampler
echo "uptime after the runs: $(uptime)" >>"$RESULTS/meta.txt"

# ------------------------------------------------------------ system calls
# perf stat on every process of each proxy (all threads; Pgpool-II's
# children too) while pgbench runs a fixed number of -S transactions, at 16
# clients and at 1: system calls, context switches and CPU per transaction.
SYSCALL_FILE=$RESULTS/syscalls.tsv
printf 'target\tclients\txacts\tsyscalls\tcontext_switches\ttask_clock_ms\tfile\n' >"$SYSCALL_FILE"
syscall_one() {  # TARGET CLIENTS
    local t=$1 c=$2 pids file=$RESULTS/raw/syscalls-$1-c$2.txt rc=0
    pids=$(python3 "$BENCHLIB" session-pids "${TARGET_PID[$t]}")
    [[ -n $pids ]] || return 0
    local cmd=("$PGBENCH" -S -M simple -c "$c" -j $(( c > 1 ? 2 : 1 )) -t "$SYSCALL_TX" -h "$HOST" -p "${TARGET_PORT[$t]}" -U "$APP_USER" "$DB")
    echo "# perf stat -p $pids -- ${cmd[*]}" >"$file"
    PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=10 timeout -k 10 300 \
        perf stat -x, -o "$file.perf" -e "raw_syscalls:sys_enter,context-switches,task-clock$SYSCALL_KINDS" -p "$pids" -- \
        "${cmd[@]}" >>"$file" 2>&1 || rc=$?
    local xacts sc cs clk
    xacts=$(python3 "$BENCHLIB" parse "$file" | cut -f3)
    IFS=$'\t' read -r sc cs clk < <(python3 "$BENCHLIB" perf-stat "$file.perf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$c" "$xacts" "$sc" "$cs" "$clk" "$file" >>"$SYSCALL_FILE"
    if (( rc != 0 )) || [[ $sc == - ]]; then
        note "system-call count for $t at $c clients failed (exit $rc; see $file and $file.perf)"
    else
        note "$(printf '%-16s c%-3s %6s tx  %7.1f syscalls/tx  %5.2f context switches/tx' "$t" "$c" "$xacts" \
            "$(awk -v a="$sc" -v n="$xacts" 'BEGIN { print a / n }')" "$(awk -v a="$cs" -v n="$xacts" 'BEGIN { print a / n }')")"
    fi
}
# Counted one by one as well, where the kernel has these tracepoints.
SYSCALL_KINDS=""
for k in read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl futex; do
    perf stat -e "syscalls:sys_enter_$k" -o /dev/null -- true >/dev/null 2>&1 && SYSCALL_KINDS+=",syscalls:sys_enter_$k"
done
if (( SYSCALL_TX > 0 )); then
    if ! perf stat -e raw_syscalls:sys_enter -o /dev/null -- true >/dev/null 2>&1; then
        note "NOTE: 'perf stat -e raw_syscalls:sys_enter' does not work here (perf missing, or no tracepoints); no system-call counts"
    else
        note "counting system calls: perf stat on each proxy during pgbench -S -t $SYSCALL_TX at 16 clients and at 1"
        for t in "${TARGETS[@]}"; do
            [[ -n ${TARGET_PID[$t]:-} ]] && kill -0 "${TARGET_PID[$t]}" 2>/dev/null || continue
            syscall_one "$t" 16
            syscall_one "$t" 1
        done
    fi
fi

# ------------------------------------------------------------ profiles
# perf record -g (software clock; no hardware counters needed) on every
# process of each proxy while pgbench -S -c 16 runs.
profile_one() {  # TARGET
    local t=$1 pids base=$RESULTS/profile-$1 rc=0
    pids=$(python3 "$BENCHLIB" session-pids "${TARGET_PID[$t]}")
    [[ -n $pids ]] || return 0
    PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=10 timeout -k 10 $((DURATION + 120)) \
        perf record -q -F 999 -g -o "$base.data" -p "$pids" -- \
        "$PGBENCH" -S -M simple -c 16 -j 2 -T "$DURATION" -h "$HOST" -p "${TARGET_PORT[$t]}" -U "$APP_USER" "$DB" \
        >"$base-pgbench.txt" 2>&1 || rc=$?
    (( rc == 0 )) || { note "perf record on $t failed (exit $rc; see $base-pgbench.txt)"; return 0; }
    local demangle=(cat)
    command -v swift >/dev/null && swift demangle --help >/dev/null 2>&1 && demangle=(swift demangle --simplified)
    perf report -i "$base.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null |
        grep -v '^$' >"$base-threads.txt" || true
    perf report -i "$base.data" --no-children --sort dso,sym --stdio -g none --percent-limit 0.5 2>/dev/null |
        grep -v '^$' | "${demangle[@]}" >"$base-symbols.txt" || true
    perf report -i "$base.data" --no-children --sort sym --stdio -g caller,0.5,callee,function,percent --percent-limit 3 2>/dev/null |
        "${demangle[@]}" >"$base-callers.txt" || true
    note "profile of $t: $base-threads.txt, $base-symbols.txt, $base-callers.txt"
}
if (( PROFILE )); then
    if ! perf record -q -o "$RESULTS/perf-check.data" -- true >/dev/null 2>&1; then
        note "NOTE: --profile: perf record does not work here; no profiles"
    else
        for t in "${TARGETS[@]}"; do
            [[ -n ${TARGET_PID[$t]:-} ]] && kill -0 "${TARGET_PID[$t]}" 2>/dev/null || continue
            profile_one "$t"
        done
    fi
fi

for t in "${RSS_TARGETS[@]}"; do
    pid=${TARGET_PID[$t]}
    {
        echo "$t.load_hwm_kb=$(proc_status_kb "$pid" VmHWM)"
        echo "$t.load_rss_max_kb=$(awk -v t="$t" 'NF == 3 && $2 == t && $3 > m { m = $3 } END { print m + 0 }' "$RESULTS/rss-samples-load.txt")"
    } >>"$RSS_FILE"
    if ! kill -0 "$pid" 2>/dev/null; then
        note "$t (pid $pid) exited during the load phase"
        [[ -f $RESULTS/$t/swiftpool.log ]] && tail_log "$RESULTS/$t/swiftpool.log"
    fi
done

# Proxies used only for the load phase are stopped now.
for pid in "${TARGET_PID[@]}"; do
    [[ -n ${STARTED_NAME[$pid]:-} ]] && stop_proc "$pid" 15 >/dev/null
done

# ------------------------------------------------------------ idle clients
# idle_test KIND N: N idle connections (each ran SELECT 1) through a fresh
# proxy: KIND is a SwiftPool binary's base target (swiftpool, swiftpool2;
# primary only, max_pool 1, so each client holds one backend connection) or
# pgbouncer. VmRSS goes to RSS_FILE as "KIND.idle<N>_*" keys.
idle_test() {
    local t=$1 n=$2 name=$1-idle$2 idle_children pid idle_pid idle_rc deadline msg port log_of_proxy
    local p=$t.idle$n
    if [[ $t == pgbouncer ]]; then
        note "idle test (pgbouncer): $n idle connections through a fresh PgBouncer (max_client_conn $((n + 100)))"
        start_pgbouncer "$name" $((n + 100)) || return 0
        pid=$PGB_PID; port=$PGB_PORT; log_of_proxy=$RESULTS/$name/pgbouncer.log
    else
        # Each SwiftPool client holds a backend connection: the primary must take n of them.
        local maxc
        maxc=$(sql "$PRIMARY_PORT" "$SUPER_USER" "$SUPER_PASSWORD" postgres "SHOW max_connections") || maxc=0
        if (( maxc < n + 10 )); then
            note "idle test ($t, $n clients) skipped: the primary's max_connections is $maxc, needs $((n + 10)) (ALTER SYSTEM SET max_connections on every node, restart the cluster)"
            echo "${p}_error=skipped: PostgreSQL max_connections $maxc < $((n + 10))" >>"$RSS_FILE"
            return 0
        fi
        idle_children=$(( n + 28 ))
        (( idle_children < 128 )) && idle_children=128
        note "idle test ($t): $n idle connections through a fresh SwiftPool (num_init_children $idle_children, max_pool 1, primary only)"
        start_swiftpool "$name" "${SP_BINARY[$t]}" "$idle_children" 1 off "${SP_LOOPS[$t]}"
        pid=$SP_PID; port=$SP_PORT; log_of_proxy=$SP_DIR/swiftpool.log
    fi
    sleep 1
    echo "${p}_start_rss_kb=$(proc_status_kb "$pid" VmRSS)" >>"$RSS_FILE"
    local ready=$RESULTS/$name/clients.ready release=$RESULTS/$name/clients.release log=$RESULTS/$name/idle-clients.log
    PGPASSWORD=$APP_PASSWORD python3 "$BENCHLIB" idle --port "$port" --user "$APP_USER" --dbname "$DB" \
        --count "$n" --ready-file "$ready" --release-file "$release" --hold-max 240 \
        >"$log" 2>&1 &
    idle_pid=$!
    deadline=$((SECONDS + 200))
    while [[ ! -e $ready ]] && kill -0 "$idle_pid" 2>/dev/null && (( SECONDS < deadline )); do
        sleep 0.2
    done
    if [[ -e $ready ]]; then
        sleep 3   # let the proxy settle with every client idle
        {
            echo "${p}_clients=$n"
            echo "${p}_rss_kb=$(proc_status_kb "$pid" VmRSS)"
            echo "${p}_hwm_kb=$(proc_status_kb "$pid" VmHWM)"
        } >>"$RSS_FILE"
        touch "$release"
        idle_rc=0
        wait "$idle_pid" || idle_rc=$?
        if (( idle_rc != 0 )); then
            note "idle clients ($t, $n) reported a problem (exit $idle_rc): $(tail -n 3 "$log" | tr '\n' ' ')"
            echo "${p}_error=clients reported exit $idle_rc (see $log)" >>"$RSS_FILE"
        fi
    else
        kill "$idle_pid" 2>/dev/null || true
        wait "$idle_pid" 2>/dev/null || true
        msg=$(tail -n 3 "$log" | tr '\n' ' ')
        note "idle test ($t, $n) failed: ${msg:-no connections within 200 s}"
        tail_log "$log_of_proxy" 20
        echo "${p}_error=failed: ${msg:-timeout}" >>"$RSS_FILE"
    fi
    stop_proc "$pid" 15 >/dev/null
}

if (( ! SKIP_IDLE )); then
    # SwiftPool holds two descriptors per idle client (client and backend).
    need_fds=$(( $(printf '%s\n' "${IDLE_LIST[@]}" | sort -n | tail -n 1) * 2 + 256 ))
    if (( $(ulimit -n) < need_fds )); then
        ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
        note "open-file limit for the idle test: $(ulimit -n) (wanted $need_fds)"
    fi
    idle_kinds=()
    for t in "${SP_TARGETS[@]}"; do
        [[ " ${idle_kinds[*]:-} " == *" ${SP_BASE[$t]} "* ]] || idle_kinds+=("${SP_BASE[$t]}")
    done
    (( WITH_PGBOUNCER )) && [[ -n ${TARGET_PID[pgbouncer]:-} ]] && idle_kinds+=(pgbouncer)
    for t in "${idle_kinds[@]}"; do
        for n in "${IDLE_LIST[@]}"; do idle_test "$t" "$n"; done
    done
fi

# ------------------------------------------------------------ report
echo
python3 "$BENCHLIB" summary "$TSV" "$RSS_FILE" "$TARGETS_FILE" "$SYSCALL_FILE" | tee "$RESULTS/summary.txt"
echo "raw pgbench outputs and logs: $RESULTS"
