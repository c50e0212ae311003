#!/usr/bin/env bash
# Runs every test: unit tests (swift test) and integration tests against a real PostgreSQL
# cluster (primary + 3 streaming standbys on 127.0.0.1) with real clients.
# Installs what is missing first; stops the cluster it started when done.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== build"
swift build --build-tests

echo "== unit tests"
swift test --skip-build

# Every libFuzzer target over its seed corpus, then 5 s of fuzzing each (fuzz/README.md).
echo "== fuzz smoke run"
fuzz/run.sh --debug --seconds 5

echo "== integration tests"
cluster_was_running=0
if scripts/pg-cluster.sh status >/dev/null 2>&1; then cluster_was_running=1; fi
scripts/pg-cluster.sh up
cleanup() {
    if [ "$cluster_was_running" = 0 ]; then scripts/pg-cluster.sh down || true; fi
}
trap cleanup EXIT
export SWIFTPOOL_BIN="${SWIFTPOOL_BIN:-$PWD/.build/debug/swiftpool}"
python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
