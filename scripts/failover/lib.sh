# lib.sh — helpers shared by failover.sh and follow_primary.sh (sourced, not run).

now_us() { local t=${EPOCHREALTIME:-}; if [[ -n $t ]]; then echo "${t/[.,]/}"; else echo $((SECONDS * 1000000)); fi; }
elapsed() { local d=$(( ($(now_us) - T0) / 100000 )); printf '%d.%ds' $((d / 10)) $((d % 10)); }

is_local_host() {  # 127.0.0.1, localhost, ::1, a socket directory, or this machine
    local h=$1 a
    case $h in
        ""|/*|localhost|localhost.*|127.*|::1|"[::1]") return 0 ;;
    esac
    for a in "$(hostname 2>/dev/null)" "$(hostname -f 2>/dev/null)" "$(hostname -s 2>/dev/null)" \
             $(hostname -I 2>/dev/null); do
        [[ -n $a && $h == "$a" ]] && return 0
    done
    return 1
}

# on_node HOST DATA_DIR SCRIPT [ARGS...]: run the bash SCRIPT on HOST as the
# owner of DATA_DIR (locally: runuser when root; remotely: ssh, with
# PGPASSWORD, if set, passed on stdin rather than the command line).
on_node() {
    local host=$1 dir=$2 script=$3 owner
    shift 3
    if is_local_host "$host"; then
        if (( EUID == 0 )); then
            owner=$(stat -c %U "$dir" 2>/dev/null) || { echo "no such data directory: $dir" >&2; return 1; }
            (cd / && runuser -u "$owner" -- bash -c "$script" node-script "$@")
        else
            bash -c "$script" node-script "$@"
        fi
    else
        [[ -z ${PGPASSWORD:-} ]] || script="export PGPASSWORD=$(printf '%q' "$PGPASSWORD")"$'\n'$script
        # shellcheck disable=SC2086
        ssh -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 ${FAILOVER_SSH_OPTIONS:-} \
            "${FAILOVER_SSH_USER:-postgres}@$host" "bash -s -- $(printf '%q ' "$@")" <<<"$script"
    fi
}

# Sets PSQL to the newest psql of the PostgreSQL installation ($PG_BIN first).
find_psql() {
    local c
    PSQL=""
    for c in ${PG_BIN:+$PG_BIN/psql} $(ls -d /usr/lib/postgresql/*/bin/psql /usr/pgsql-*/bin/psql 2>/dev/null | sort -V | tail -n 1); do
        [[ -x $c ]] && { PSQL=$c; return 0; }
    done
    PSQL=$(command -v psql) || die "psql not found (set PG_BIN)"
}

sql() {  # sql HOST PORT SQL: one value (or rows), as $SUPERUSER on database postgres
    PGCONNECT_TIMEOUT=5 "$PSQL" -X -w -A -t -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U "$SUPERUSER" \
        -d postgres -c "$3"
}
