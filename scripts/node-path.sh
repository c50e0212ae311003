#!/usr/bin/env bash
# Prints the NODE_PATH under which require('pg') works (node-postgres unpacked
# by scripts/install-deps.sh).  "--export" prints an export line for eval.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${SWIFTPOOL_DEPS_DIR:-$REPO/.deps}/node/root/usr/share/nodejs
if [[ ! -f $dir/pg/package.json ]]; then
    echo "node-path.sh: node-postgres not found in $dir; run scripts/install-deps.sh" >&2
    exit 1
fi
if [[ ${1:-} == --export ]]; then
    echo "export NODE_PATH='$dir'"
else
    echo "$dir"
fi
