#!/usr/bin/env bash
# Builds the release binary, .build/release/swiftpool (static Swift runtime). Extra arguments go
# to `swift build` (for example --scratch-path DIR).
#
# Every module, SwiftNIO's included, is built without the runtime's dynamic exclusivity checks:
# about 120 calls and 17 % of the instructions of a transaction-mode `pgbench -S` transaction
# under callgrind went to them (bench/README.md), half in SwiftPool's modules, half in SwiftNIO's
# channel state getters, which every read, write and flush asks several times. The compiler's
# static exclusivity checks stay. Every other build keeps the dynamic ones, so an overlapping
# access still traps in CI: the debug builds of the unit and integration tests, the fuzzers
# (fuzz/run.sh builds its own), and a plain `swift build -c release`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release --product swiftpool --static-swift-stdlib \
    -Xswiftc -enforce-exclusivity=unchecked "$@"
