#!/usr/bin/env bash
# install-deps.sh — everything SwiftPool's build and integration tests need on
# Debian 12, except Swift itself (expected on PATH).  Idempotent: steps that
# are already done are skipped, so a second run takes about a second.
#
#   apt:    postgresql-15 postgresql-contrib postgresql-client libpq-dev
#           libmicrohttpd-dev pkg-config pgpool2 prometheus chromium docker-compose iproute2
#           iputils-arping nftables etcd-server etcd-client libpostgresql-jdbc-java
#           (+ python3/python3-pip, nodejs, default-jre-headless when missing)
#   PyPI:   asyncpg, psycopg[binary], pytest, requests, pyyaml, schemathesis (for the python3 on PATH)
#   node:   Debian's node-pg and its dependencies, unpacked (not installed)
#           under $SWIFTPOOL_DEPS_DIR/node (default <repo>/.deps/node);
#           scripts/node-path.sh prints the matching NODE_PATH.
#
# Runs as root, or as another user with sudo for the apt steps.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DEPS_DIR=${SWIFTPOOL_DEPS_DIR:-$REPO/.deps}
NODE_DIR=$DEPS_DIR/node
export DEBIAN_FRONTEND=noninteractive

log() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
else
    command -v sudo >/dev/null || die "not root and sudo is missing"
    SUDO=(sudo -E)
fi

APT_UPDATED=0
apt_update_once() {
    if (( ! APT_UPDATED )); then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
}

is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# ------------------------------------------------------------------ apt
# pgpool2 brings Pgpool-II's own tools (pg_enc, pcp_*), used by tests as real peers.
# prometheus brings promtool and a real Prometheus server for the metrics tests.
# chromium renders the status page in a test; docker-compose validates compose/.
# iproute2, iputils-arping and nftables build the watchdog tests' network namespaces, move the
# virtual IP (if_up_cmd/if_down_cmd/arping_cmd) and cut a member off (tests/integration/netlab.py).
# etcd-server and etcd-client run the three-member etcd of the etcd coordination tests
# (tests/integration/etcd_cluster.py starts and stops it on free loopback ports).
# openssl (the CLI) makes the test certificates: the cluster's (scripts/pg-cluster.sh) and the TLS tests'.
# libssl-dev: the system OpenSSL checks client certificates against revocation lists (ssl_crl_file).
# libpostgresql-jdbc-java (pgjdbc, /usr/share/java/postgresql.jar) is the JDBC driver of the transaction-pooling driver tests.
APT_PKGS=(postgresql-15 postgresql-contrib postgresql-client libpq-dev libmicrohttpd-dev pkg-config pgpool2 prometheus
          chromium docker-compose iproute2 iputils-arping nftables etcd-server etcd-client openssl
          libssl-dev libpostgresql-jdbc-java)
command -v python3 >/dev/null || APT_PKGS+=(python3 python3-pip)
command -v node >/dev/null || APT_PKGS+=(nodejs)
command -v java >/dev/null || APT_PKGS+=(default-jre-headless)

missing=()
for p in "${APT_PKGS[@]}"; do is_installed "$p" || missing+=("$p"); done
if (( ${#missing[@]} )); then
    apt_update_once
    log "apt-get install ${missing[*]}"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "apt packages already installed"
fi

# The package may have created and started a default cluster on 5432; the
# tests use their own cluster (scripts/pg-cluster.sh), so stop it if it runs.
if command -v pg_lsclusters >/dev/null; then
    while read -r ver name _port status _rest; do
        if [[ $status == online* ]]; then
            log "stopping Debian's default cluster $ver/$name"
            "${SUDO[@]}" pg_ctlcluster "$ver" "$name" stop || log "warning: could not stop cluster $ver/$name (ignored)"
        fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
fi

# The pgpool2 package may start its own service; SwiftPool's tests only use its tools.
if pgrep -x pgpool >/dev/null 2>&1; then
    log "stopping the pgpool2 package's service"
    "${SUDO[@]}" service pgpool2 stop >/dev/null 2>&1 || "${SUDO[@]}" pkill -x pgpool || true
fi

# The prometheus package may start its service; the tests start their own server.
if pgrep -x prometheus >/dev/null 2>&1; then
    log "stopping the prometheus package's service"
    "${SUDO[@]}" service prometheus stop >/dev/null 2>&1 || "${SUDO[@]}" pkill -x prometheus || true
fi
pkill -x prometheus-node-exporter >/dev/null 2>&1 || true

# The etcd-server package may start its service on 2379; the tests start their own members.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    log "stopping the etcd-server package's service"
    "${SUDO[@]}" systemctl stop etcd >/dev/null 2>&1 || true
fi

# ------------------------------------------------------------------ python
PY=python3
if "$PY" -c 'import asyncpg, psycopg, pytest, requests, yaml' 2>/dev/null && command -v schemathesis >/dev/null; then
    log "python drivers already installed ($("$PY" -c 'import asyncpg, psycopg, pytest; print("asyncpg", asyncpg.__version__, "psycopg", psycopg.__version__, "pytest", pytest.__version__)'))"
else
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || {
            apt_update_once
            "${SUDO[@]}" apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
        }
    fi
    pip_args=(install --disable-pip-version-check -q)
    # Debian's own python3 refuses pip installs unless told otherwise (PEP 668).
    if "$PY" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
        pip_args+=(--break-system-packages)
        [[ $(id -u) -eq 0 ]] || pip_args+=(--user)
    fi
    log "pip install asyncpg psycopg[binary] pytest requests pyyaml schemathesis"
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip "${pip_args[@]}" asyncpg 'psycopg[binary]' pytest requests pyyaml schemathesis
    "$PY" -c 'import asyncpg, psycopg, pytest, requests, yaml' || die "python drivers still not importable"
    command -v schemathesis >/dev/null || die "schemathesis is not on PATH after pip install"
fi

# ------------------------------------------------------------------ node-postgres
# Debian's node-pg depends on Debian's nodejs, which conflicts with a newer
# Node.js; its JavaScript runs fine on any Node, so unpack the .debs instead.
NODE_ROOT=$NODE_DIR/root
NODE_PATH_DIR=$NODE_ROOT/usr/share/nodejs
node_ok() { NODE_PATH=$NODE_PATH_DIR node -e "require('pg')" >/dev/null 2>&1; }

if [[ -f $NODE_DIR/.complete ]] && node_ok; then
    log "node-postgres already unpacked in $NODE_ROOT"
else
    apt_update_once
    # node-* dependency closure of node-pg.  node-libpq (and node-bindings) is
    # a native addon built for Debian's Node ABI; pg only loads it for
    # pg.native, so it is left out.
    declare -A seen=()
    queue=(node-pg)
    while (( ${#queue[@]} )); do
        p=${queue[0]}; queue=("${queue[@]:1}")
        [[ -n ${seen[$p]:-} ]] && continue
        seen[$p]=1
        while read -r dep; do
            case $dep in
                node-libpq|node-bindings|nodejs|nodejs-*) ;;
                node-*) [[ -n ${seen[$dep]:-} ]] || queue+=("$dep") ;;
            esac
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
                   --no-replaces --no-enhances "$p" 2>/dev/null |
                 sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^<>]*\)$/\2/p')
    done
    pkgs=("${!seen[@]}")
    log "downloading ${#pkgs[@]} packages: ${pkgs[*]}"
    mkdir -p "$NODE_DIR/debs"
    rm -rf "$NODE_ROOT" "$NODE_DIR/.complete"
    (cd "$NODE_DIR/debs" && apt-get download -qq "${pkgs[@]}" 2>&1 | grep -v 'unsandboxed' || true)
    mkdir -p "$NODE_ROOT"
    for p in "${pkgs[@]}"; do
        deb=$(ls -t "$NODE_DIR/debs/${p}_"*.deb 2>/dev/null | head -n 1)
        [[ -n $deb ]] || die "download of $p failed"
        dpkg-deb -x "$deb" "$NODE_ROOT"
    done
    node_ok || die "NODE_PATH=$NODE_PATH_DIR node -e \"require('pg')\" fails"
    printf '%s\n' "${pkgs[@]}" | sort >"$NODE_DIR/.complete"
    log "node-postgres unpacked in $NODE_ROOT"
fi

log "pg version: $(NODE_PATH=$NODE_PATH_DIR node -e "console.log(require('pg/package.json').version)")"
log "NODE_PATH=$NODE_PATH_DIR   (or: eval \"\$(scripts/node-path.sh --export)\")"
log "done"
