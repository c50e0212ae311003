#!/usr/bin/env bash
# failover.sh — sample failover_command for SwiftPool (and Pgpool-II):
# promote the new main node when the primary failed.
#
#   failover_command = '/path/to/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
#
#   %d %h %p %D  failed node: id, host, port, data directory
#   %m %H %r %R  new main node: id (-1 if none), host, port, data directory
#   %M %P        old main node id, old primary node id
#   %N %S        old primary host, port
#
# A failed standby needs nothing (exit 0).  When the old primary failed, it is
# first stopped if it still runs (a switchover, or a primary SwiftPool gave up
# on while it was alive), and the new main node waits for its last WAL; then
# the new main node is promoted with "pg_ctl -D %R -w -t 60 promote".  Commands
# run locally when the node's host is this machine, otherwise over ssh as
# $FAILOVER_SSH_USER (see README.md).
# One log line per step on stdout; exit status non-zero when promotion failed.
set -uo pipefail

PROG=failover.sh
log() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

# Empty placeholders vanish from an unquoted command line (sh word splitting),
# so accept only argument lists whose positions are unambiguous.
if (( $# == 12 )) || { (( $# == 10 )) && [[ $8 == -1 ]]; }; then
    FAILED_ID=$1 FAILED_HOST=$2 FAILED_PORT=$3 FAILED_DIR=$4
    NEW_MAIN_ID=$5 NEW_MAIN_HOST=$6 OLD_MAIN_ID=$7 OLD_PRIMARY_ID=$8
    NEW_MAIN_PORT=$9 NEW_MAIN_DIR=${10} OLD_PRIMARY_HOST=${11:-} OLD_PRIMARY_PORT=${12:-}
elif (( $# >= 5 )) && [[ $5 == -1 ]]; then
    # No new main node: %H %r %R are empty and gone.
    FAILED_ID=$1 FAILED_HOST=$2 FAILED_PORT=$3 FAILED_DIR=$4 NEW_MAIN_ID=-1
    NEW_MAIN_HOST="" NEW_MAIN_PORT="" NEW_MAIN_DIR="" OLD_MAIN_ID=${6:-} OLD_PRIMARY_ID=${7:-}
    OLD_PRIMARY_HOST=${8:-} OLD_PRIMARY_PORT=${9:-}
else
    die "expected 12 arguments (%d %h %p %D %m %H %M %P %r %R %N %S), got $#: '$*'" \
        "(an empty placeholder? set backend_data_directoryN for every node, or quote the placeholders)"
fi

log "node $FAILED_ID ($FAILED_HOST:$FAILED_PORT) failed; old primary node ${OLD_PRIMARY_ID:--1}, new main node ${NEW_MAIN_ID:--1}${NEW_MAIN_HOST:+ ($NEW_MAIN_HOST:$NEW_MAIN_PORT)}"

if [[ $FAILED_ID != "$OLD_PRIMARY_ID" ]]; then
    log "standby $FAILED_ID down, nothing to do"
    exit 0
fi
if [[ -z $NEW_MAIN_ID || $NEW_MAIN_ID == -1 ]]; then
    log "primary $FAILED_ID down and no node left to promote, nothing to do"
    exit 0
fi
[[ -n $NEW_MAIN_DIR ]] || die "no data directory for node $NEW_MAIN_ID (%R is empty): set backend_data_directory$NEW_MAIN_ID"
[[ -n $NEW_MAIN_HOST ]] || die "no host for node $NEW_MAIN_ID (%H is empty)"

# ------------------------------------------------------------------ helpers
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Node-side prologue: $1 = PG_BIN (may be empty), $2 = data directory.  Finds
# pg_ctl: PG_BIN, else the bin dir of the data directory's major version, else
# the newest /usr/lib/postgresql/*/bin (or /usr/pgsql-*/bin), else PATH.
NODE_PROLOGUE='
set -uo pipefail
PGBIN=$1 D=$2; shift 2
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
'

PROMOTE_SCRIPT=$NODE_PROLOGUE'
if ! "$PGBIN/pg_ctl" -D "$D" status >/dev/null 2>&1; then
    echo "server in $D is not running" >&2; exit 1
fi
if [[ ! -f $D/standby.signal ]]; then
    echo "already a primary (no standby.signal in $D)"; exit 0
fi
"$PGBIN/pg_ctl" -D "$D" -w -t 60 promote
'

# ------------------------------------------------------------------ promote
# Runs on the old primary: $1 "fast" (then "immediate" after $2 seconds) or "immediate".
# Prints "shutdown checkpoint at LSN" after a clean stop.
STOP_SCRIPT=$NODE_PROLOGUE'
running() { "$PGBIN/pg_ctl" -D "$D" status >/dev/null 2>&1; }
running || { echo "not running"; exit 0; }
[[ -f $D/standby.signal ]] && { echo "runs as a standby; left alone"; exit 0; }
if [[ $1 == fast ]]; then
    if "$PGBIN/pg_ctl" -D "$D" -m fast -w -t "$2" stop >/dev/null 2>&1 || ! running; then
        control=$(LC_ALL=C "$PGBIN/pg_controldata" "$D")
        if [[ $(sed -n "s/^Database cluster state: *//p" <<<"$control") == "shut down" ]]; then
            echo "shutdown checkpoint at $(sed -n "s/^Latest checkpoint location: *//p" <<<"$control")"
        else
            echo "stopped"
        fi
        exit 0
    fi
    echo "a fast stop did not end within $2s"
fi
if ! "$PGBIN/pg_ctl" -D "$D" -m immediate -w -t 30 stop >/dev/null 2>&1 && running; then
    echo "it still runs after an immediate stop" >&2; exit 1
fi
echo "stopped immediately"
'

# The old primary must take no more writes (fencing). After a switchover or an operator's
# detach it is healthy: a fast stop sends its last WAL (the shutdown checkpoint) to the
# standbys still connected, and the new main node is promoted once it has received it, so no
# standby holds WAL the new primary lacks. After a failure (or when SwiftPool does not say
# why: Pgpool-II) it is stopped at once, so the promotion does not wait for it.
stop_old_primary() {
    local where=local out lsn mode=immediate waited=0 limit=${FAILOVER_CATCHUP_TIMEOUT:-10}
    case ${FAILOVER_STOP_OLD_PRIMARY:-on} in
        off|no|false|0) log "not stopping the old primary node $FAILED_ID (FAILOVER_STOP_OLD_PRIMARY=off)"; return ;;
    esac
    case ${SWIFTPOOL_FAILOVER_REASON:-} in
        switchover|detach) mode=fast ;;
    esac
    if [[ -z $FAILED_DIR ]]; then
        log "no data directory for the old primary node $FAILED_ID (%D is empty): not stopping it"
        return
    fi
    is_local_host "$FAILED_HOST" || where="ssh ${FAILOVER_SSH_USER:-postgres}@$FAILED_HOST"
    if ! out=$(on_node "$FAILED_HOST" "$FAILED_DIR" "$STOP_SCRIPT" "${PG_BIN:-}" "$FAILED_DIR" \
                "$mode" "${FAILOVER_STOP_TIMEOUT:-10}" 2>&1); then
        [[ -z $out ]] || printf '%s\n' "$out" | sed "s/^/$PROG: /"
        log "warning: could not stop the old primary node $FAILED_ID via $where; promoting anyway (fence it)"
        return
    fi
    log "old primary node $FAILED_ID via $where (${SWIFTPOOL_FAILOVER_REASON:-reason not given}): ${out//$'\n'/; }"
    lsn=$(sed -n 's/^shutdown checkpoint at //p' <<<"$out")
    [[ -n $lsn ]] || return 0
    SUPERUSER=${FAILOVER_PGUSER:-${FOLLOW_PGUSER:-postgres}}
    find_psql
    while [[ $(sql "$NEW_MAIN_HOST" "$NEW_MAIN_PORT" "SELECT pg_last_wal_receive_lsn() > '$lsn'::pg_lsn" 2>/dev/null) != t ]]; do
        if (( waited >= limit * 10 )); then
            log "node $NEW_MAIN_ID has not received WAL past $lsn within ${limit}s; promoting it anyway" \
                "(the old primary will need pg_rewind)"
            return
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    log "node $NEW_MAIN_ID has received the old primary's WAL up to its shutdown checkpoint"
}

T0=$(now_us)
stop_old_primary
where=local
is_local_host "$NEW_MAIN_HOST" || where="ssh ${FAILOVER_SSH_USER:-postgres}@$NEW_MAIN_HOST"
log "promoting node $NEW_MAIN_ID ($NEW_MAIN_HOST:$NEW_MAIN_PORT, $NEW_MAIN_DIR) via $where"
if ! out=$(on_node "$NEW_MAIN_HOST" "$NEW_MAIN_DIR" "$PROMOTE_SCRIPT" "${PG_BIN:-}" "$NEW_MAIN_DIR" 2>&1); then
    [[ -z $out ]] || printf '%s\n' "$out" | sed "s/^/$PROG: /"
    die "promoting node $NEW_MAIN_ID ($NEW_MAIN_HOST:$NEW_MAIN_PORT) failed"
fi
[[ -z $out ]] || printf '%s\n' "$out" | sed "s/^/$PROG: /"
log "node $NEW_MAIN_ID is the new primary (after $(elapsed))"
exit 0
