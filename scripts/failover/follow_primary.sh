#!/usr/bin/env bash
# follow_primary.sh — sample follow_primary_command for SwiftPool (and
# Pgpool-II): make node %d a streaming standby of the new primary %m.
#
#   follow_primary_command = '/path/to/follow_primary.sh %d %h %p %D %m %H %M %P %r %R %N %S'
#
#   %d %h %p %D  the node that must follow: id, host, port, data directory
#   %m %H %r %R  the NEW PRIMARY: id, host, port, data directory
#   %M %P %N %S  old main id, old primary id, old primary host and port (unused)
#
# Running standby: primary_conninfo is pointed at %H:%r (the rest of it is
# kept), the replication slot named by primary_slot_name is created on the new
# primary, the configuration is reloaded and the script waits until the node
# streams from %r.  When the node cannot follow (it has WAL past the timeline
# switch point), is not running (e.g. the crashed old primary) or runs as a
# primary, it is stopped, rewound with pg_rewind from the new primary, given a
# standby.signal and started.  Commands on the node run locally when %h is this
# machine, otherwise over ssh as $FAILOVER_SSH_USER.  See README.md for the
# environment variables and the passwords it needs.
set -uo pipefail

PROG=follow_primary.sh
log() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Empty placeholders vanish from an unquoted command line (sh word splitting):
# accept 12 arguments, or 10 when the old primary's %N %S are empty.
(( $# == 12 || $# == 10 )) ||
    die "expected 12 arguments (%d %h %p %D %m %H %M %P %r %R %N %S), got $#: '$*'" \
        "(an empty placeholder? set backend_data_directoryN for every node, or quote the placeholders)"
NODE_ID=$1 NODE_HOST=$2 NODE_PORT=$3 NODE_DIR=$4
NEW_ID=$5 NEW_HOST=$6 NEW_PORT=$9

if [[ $NODE_ID == "$NEW_ID" ]]; then
    log "node $NODE_ID is the new primary, nothing to do"
    exit 0
fi
[[ -n $NEW_ID && $NEW_ID != -1 ]] || die "no new primary (%m = '$NEW_ID'); node $NODE_ID has nothing to follow"
[[ $NODE_DIR == /* ]] || die "data directory of node $NODE_ID is '$NODE_DIR': set backend_data_directory$NODE_ID"
[[ $NODE_PORT =~ ^[0-9]+$ && $NEW_PORT =~ ^[0-9]+$ ]] ||
    die "bad port numbers (%p '$NODE_PORT', %r '$NEW_PORT'): an empty placeholder shifted the arguments?"

TIMEOUT=${FOLLOW_TIMEOUT:-30}
SUPERUSER=${FOLLOW_PGUSER:-postgres}
START_LOG=${FOLLOW_LOG_FILE:-$NODE_DIR/follow_primary-server.log}
START_LOG=${START_LOG//\%d/$NODE_ID}
T0=$(now_us)

# ------------------------------------------------------------------ helpers
# Prints the output of a node command with our prefix.
relay() { [[ -z $1 ]] || printf '%s\n' "$1" | sed "s/^/$PROG:   /"; }

find_psql

# Quote a conninfo value when needed.
conn_quote() {
    local v=$1
    if [[ $v =~ ^[A-Za-z0-9_.:/@+,-]+$ ]]; then
        printf '%s' "$v"
    else
        v=${v//\\/\\\\}
        v=${v//\'/\\\'}
        printf "'%s'" "$v"
    fi
}

# conninfo_without CONNINFO KEY...: CONNINFO (keyword=value form) without the
# given keywords.  Fails on a URI or a syntax error.
conninfo_without() {
    local s=$1 i=0 n key val c closed out=""
    shift
    local -A drop=()
    for key; do drop[$key]=1; done
    n=${#s}
    [[ $s =~ ^postgres(ql)?:// ]] && return 1
    while (( i < n )); do
        c=${s:i:1}
        if [[ $c == [[:space:]] ]]; then i=$((i + 1)); continue; fi
        key=""
        while (( i < n )); do
            c=${s:i:1}
            [[ $c == "=" || $c == [[:space:]] ]] && break
            key+=$c; i=$((i + 1))
        done
        while (( i < n )) && [[ ${s:i:1} == [[:space:]] ]]; do i=$((i + 1)); done
        [[ ${s:i:1} == "=" ]] || return 1
        i=$((i + 1))
        while (( i < n )) && [[ ${s:i:1} == [[:space:]] ]]; do i=$((i + 1)); done
        val=""
        if [[ ${s:i:1} == "'" ]]; then
            i=$((i + 1)); closed=0
            while (( i < n )); do
                c=${s:i:1}
                if [[ $c == "\\" ]]; then val+=${s:i+1:1}; i=$((i + 2))
                elif [[ $c == "'" ]]; then i=$((i + 1)); closed=1; break
                else val+=$c; i=$((i + 1)); fi
            done
            (( closed )) || return 1
        else
            while (( i < n )); do
                c=${s:i:1}
                [[ $c == [[:space:]] ]] && break
                if [[ $c == "\\" ]]; then val+=${s:i+1:1}; i=$((i + 2))
                else val+=$c; i=$((i + 1)); fi
            done
        fi
        [[ -n ${drop[$key]:-} ]] || out+="${out:+ }$key=$(conn_quote "$val")"
    done
    printf '%s' "$out"
}

# Runs on the node as the data directory owner: $1 PG_BIN (may be empty),
# $2 data directory, $3 operation, then the operation's arguments.
NODE_SCRIPT='
set -uo pipefail
PGBIN=$1 D=$2 OP=$3; shift 3
if [[ -z $PGBIN ]]; then
    v=$(cat "$D/PG_VERSION" 2>/dev/null || true)
    for c in ${v:+/usr/lib/postgresql/$v/bin /usr/pgsql-$v/bin} \
             $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null | sort -V | tail -n 1); do
        [[ -x $c/pg_ctl ]] && { PGBIN=$c; break; }
    done
    [[ -n $PGBIN ]] || PGBIN=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
fi
[[ -x $PGBIN/pg_ctl ]] || { echo "pg_ctl not found (set PG_BIN)" >&2; exit 1; }
[[ -f $D/PG_VERSION ]] || { echo "$D is not a PostgreSQL data directory" >&2; exit 1; }

running() { "$PGBIN/pg_ctl" -D "$D" status >/dev/null 2>&1; }

set_conninfo() {  # $1: the complete primary_conninfo line for postgresql.auto.conf
    local f=$D/postgresql.auto.conf
    { grep -v -E "^[[:space:]]*primary_conninfo[[:space:]]*=" "$f" 2>/dev/null
      printf "%s\n" "$1"; } >"$f.follow.$$" && mv -f "$f.follow.$$" "$f"
}

start() {  # $1: log file.  The server must not inherit our libpq settings.
    unset $(compgen -e | grep "^PG") 2>/dev/null
    "$PGBIN/pg_ctl" -D "$D" -l "$1" -w -t 60 start >/dev/null
}

case $OP in
status)
    if running; then echo running=1; else echo running=0; fi
    if [[ -f $D/standby.signal ]]; then echo standby=1; else echo standby=0; fi
    ci=$("$PGBIN/postgres" -D "$D" -C primary_conninfo) || exit 1
    slot=$("$PGBIN/postgres" -D "$D" -C primary_slot_name) || exit 1
    echo "conninfo=$ci"
    echo "slot=$slot"
    ;;
reconfigure)  # $1 conninfo line: set it and reload
    set_conninfo "$1" || exit 1
    "$PGBIN/pg_ctl" -D "$D" reload >/dev/null
    ;;
rewind)  # $1 source conninfo, $2 conninfo line, $3 log file
    if running; then
        echo "stopping the server (fast)"
        # A server that crashed a moment ago may still look running, then be gone by the
        # time pg_ctl tries to stop it: that is stopped too.
        "$PGBIN/pg_ctl" -D "$D" -m fast -w -t 60 stop >/dev/null 2>&1 || ! running || exit 1
    fi
    # pg_rewind copies the configuration files of the source: keep ours.
    keep=$(mktemp -d) || exit 1
    cp -p "$D"/*.conf "$keep"/ || exit 1
    out=$("$PGBIN/pg_rewind" --target-pgdata="$D" --source-server="$1" 2>&1)
    rc=$?
    cp -p "$keep"/*.conf "$D"/ && rm -rf "$keep"
    # All of its output (with the crash recovery it may run first) on failure.
    (( rc == 0 )) || { printf "%s\n" "$out"; echo "pg_rewind failed (exit $rc)"; exit 1; }
    grep "^pg_rewind:" <<<"$out"
    # Slots of a former primary would hold WAL back on a standby.
    rm -rf "$D"/pg_replslot/*
    set_conninfo "$2" || exit 1
    touch "$D/standby.signal" || exit 1
    echo "starting the server as a standby (log: $3)"
    start "$3" || { echo "pg_ctl start failed; last lines of $3:"; tail -n 20 "$3"; exit 1; }
    ;;
start)  # $1 conninfo line, $2 log file: start a stopped standby
    set_conninfo "$1" || exit 1
    echo "starting the server (log: $2)"
    start "$2" || { echo "pg_ctl start failed; last lines of $2:"; tail -n 20 "$2"; exit 1; }
    ;;
logtail)  # $1 log file
    [[ -f $1 ]] && { echo "last lines of $1:"; tail -n 20 "$1"; }
    ;;
*) echo "unknown operation $OP" >&2; exit 1 ;;
esac
'

node_op() {  # node_op OP [ARGS...]: NODE_SCRIPT on node %d
    on_node "$NODE_HOST" "$NODE_DIR" "$NODE_SCRIPT" "${PG_BIN:-}" "$NODE_DIR" "$@"
}

# Waits until node %d streams from the new primary's port on its timeline.
wait_streaming() {
    local deadline=$((SECONDS + TIMEOUT)) n
    while :; do
        n=$(sql "$NODE_HOST" "$NODE_PORT" "SELECT count(*) FROM pg_stat_wal_receiver
                WHERE status = 'streaming' AND sender_port = $NEW_PORT AND received_tli >= $NEW_TLI" 2>/dev/null)
        [[ $n == 1 ]] && return 0
        (( SECONDS >= deadline )) && return 1
        sleep 0.5
    done
}

# ------------------------------------------------------------------ new primary
where=local
is_local_host "$NODE_HOST" || where="ssh ${FAILOVER_SSH_USER:-postgres}@$NODE_HOST"
log "node $NODE_ID ($NODE_HOST:$NODE_PORT, $NODE_DIR, via $where) follows new primary node $NEW_ID ($NEW_HOST:$NEW_PORT)"

r=$(sql "$NEW_HOST" "$NEW_PORT" "SELECT pg_is_in_recovery()" 2>&1) ||
    die "cannot query the new primary node $NEW_ID at $NEW_HOST:$NEW_PORT as $SUPERUSER (password: PGPASSWORD or ~/.pgpass): ${r//$'\n'/ }"
[[ $r == f ]] || die "node $NEW_ID ($NEW_HOST:$NEW_PORT) is not a primary (still in recovery)"
NEW_TLI=$(sql "$NEW_HOST" "$NEW_PORT" \
    "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int") ||
    die "cannot read the timeline of node $NEW_ID"

# ------------------------------------------------------------------ node state
out=$(node_op status 2>&1) || { relay "$out"; die "cannot inspect node $NODE_ID ($NODE_HOST, $NODE_DIR)"; }
RUNNING=0 STANDBY=0 OLD_CONNINFO="" SLOT=""
while IFS= read -r line; do
    case $line in
        running=*)  RUNNING=${line#running=} ;;
        standby=*)  STANDBY=${line#standby=} ;;
        conninfo=*) OLD_CONNINFO=${line#conninfo=} ;;
        slot=*)     SLOT=${line#slot=} ;;
    esac
done <<<"$out"

# primary_conninfo: host/port of the new primary plus the rest of the node's
# own (user, password or passfile, application_name, ...).  A former primary
# has none: use $FOLLOW_REPL_CONNINFO, else the one the new primary had as a
# standby (without its application_name), else user=repmgr.
if [[ -n $OLD_CONNINFO ]]; then
    REST=$(conninfo_without "$OLD_CONNINFO" host hostaddr port) ||
        die "cannot parse primary_conninfo of node $NODE_ID (URI form is not supported)"
    from="its own primary_conninfo"
elif [[ -n ${FOLLOW_REPL_CONNINFO:-} ]]; then
    REST=$(conninfo_without "$FOLLOW_REPL_CONNINFO" host hostaddr port) || die "cannot parse FOLLOW_REPL_CONNINFO"
    from="FOLLOW_REPL_CONNINFO"
else
    borrowed=$(sql "$NEW_HOST" "$NEW_PORT" "SELECT current_setting('primary_conninfo')" 2>/dev/null || true)
    REST=""
    [[ -z $borrowed ]] || REST=$(conninfo_without "$borrowed" host hostaddr port application_name) || REST=""
    from="the new primary's former primary_conninfo"
    [[ -n $REST ]] || { REST="user=repmgr"; from="the default"; }
fi
NEW_CONNINFO="host=$(conn_quote "$NEW_HOST") port=$NEW_PORT${REST:+ $REST}"
v=${NEW_CONNINFO//\\/\\\\}
CONNINFO_LINE="primary_conninfo = '${v//\'/\'\'}'"
log "primary_conninfo: host=$NEW_HOST port=$NEW_PORT + settings from $from${SLOT:+; slot $SLOT}"

# The physical replication slot the node uses, on the new primary.
if [[ -n $SLOT ]]; then
    [[ $SLOT =~ ^[a-z0-9_]+$ ]] || die "invalid primary_slot_name '$SLOT' on node $NODE_ID"
    r=$(sql "$NEW_HOST" "$NEW_PORT" "SELECT count(pg_create_physical_replication_slot('$SLOT', true))
            WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT')" 2>&1) ||
        die "cannot create replication slot $SLOT on node $NEW_ID: $r"
    if [[ $r == 1 ]]; then log "created replication slot $SLOT on node $NEW_ID"; fi
fi

# ------------------------------------------------------------------ follow
# A running standby that has neither replayed nor received WAL past the point
# where the new primary's timeline forked off its own only needs the new
# primary_conninfo. WAL received past that point counts: the standby replays
# what it has in pg_wal before it asks the new primary for more, and would
# never stream (say, from a switchover's old primary that kept writing while
# the new one was promoted).
# A stopped standby is started first: pg_rewind refuses a standby that was
# not shut down cleanly, and the standby may well be able to follow as it is.
if (( !RUNNING && STANDBY )); then
    log "node $NODE_ID is a stopped standby: starting it"
    out=$(node_op start "$CONNINFO_LINE" "$START_LOG" 2>&1)
    rc=$?
    relay "$out"
    (( rc == 0 )) && RUNNING=1
fi
need_rewind=1
if (( RUNNING && STANDBY )); then
    need_rewind=0
    # Its timeline: the walreceiver's; without one (its primary is gone), the
    # newest it has a history file for or its last restartpoint's.
    info=$(sql "$NODE_HOST" "$NODE_PORT" "SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                greatest((SELECT timeline_id FROM pg_control_checkpoint()),
                         (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()
                           WHERE name LIKE '%.history')))::text || ' ' ||
                greatest(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())::text" 2>/dev/null) || info=""
    read -r node_tli node_lsn <<<"$info"
    if [[ -n ${node_tli:-} && -n ${node_lsn:-} && $node_tli != "$NEW_TLI" ]]; then
        hist=""
        (( node_tli < NEW_TLI )) && hist=$(sql "$NEW_HOST" "$NEW_PORT" \
            "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex($NEW_TLI)), 8, '0') || '.history')" 2>/dev/null)
        switch=$(awk -v t="$node_tli" '$1 == t { print $2 }' <<<"$hist")
        if [[ -z $switch ]]; then
            log "node $NODE_ID is on timeline $node_tli, which is not in the history of timeline $NEW_TLI"
            need_rewind=1
        elif [[ $(sql "$NODE_HOST" "$NODE_PORT" "SELECT '$node_lsn'::pg_lsn > '$switch'::pg_lsn") == t ]]; then
            log "node $NODE_ID has WAL up to $node_lsn, past $switch where timeline $NEW_TLI forked off timeline $node_tli"
            need_rewind=1
        fi
    fi
    if (( ! need_rewind )); then
        out=$(node_op reconfigure "$CONNINFO_LINE" 2>&1) || { relay "$out"; die "cannot reconfigure node $NODE_ID"; }
        log "configuration reloaded; waiting up to ${TIMEOUT}s for streaming from port $NEW_PORT"
        if wait_streaming; then
            log "node $NODE_ID streams from node $NEW_ID (port $NEW_PORT, timeline $NEW_TLI) after $(elapsed)"
            exit 0
        fi
        log "node $NODE_ID does not stream from port $NEW_PORT after ${TIMEOUT}s; trying pg_rewind"
        need_rewind=1
    fi
elif (( RUNNING )); then
    log "node $NODE_ID runs as a primary (no standby.signal): it will be stopped and rewound"
else
    log "node $NODE_ID is not running: it will be rewound and started as a standby"
fi

# pg_rewind (PostgreSQL 15 and older) reads the source's timeline from its
# control file, which a fresh promotion updates only at the next checkpoint.
r=$(sql "$NEW_HOST" "$NEW_PORT" "CHECKPOINT" 2>&1) || die "CHECKPOINT on node $NEW_ID failed: $r"
SOURCE="host=$(conn_quote "$NEW_HOST") port=$NEW_PORT user=$(conn_quote "$SUPERUSER") dbname=postgres"
log "running pg_rewind on node $NODE_ID from $NEW_HOST:$NEW_PORT"
out=$(node_op rewind "$SOURCE" "$CONNINFO_LINE" "$START_LOG" 2>&1)
rc=$?
relay "$out"
(( rc == 0 )) || die "could not rewind and start node $NODE_ID as a standby of node $NEW_ID"
log "node $NODE_ID started as a standby; waiting up to ${TIMEOUT}s for streaming from port $NEW_PORT"
if ! wait_streaming; then
    relay "$(node_op logtail "$START_LOG" 2>&1)"
    die "node $NODE_ID does not stream from node $NEW_ID (port $NEW_PORT) ${TIMEOUT}s after pg_rewind and restart"
fi
log "node $NODE_ID streams from node $NEW_ID (port $NEW_PORT, timeline $NEW_TLI) after $(elapsed)"
exit 0
