#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each of them (or the ones named) for a while, one after
# the other, then prints a table: executions, executions per second, crashes and where the
# crashing inputs went. Exits non-zero when any target crashed (or did not build).
#
#   fuzz/run.sh [--seconds N | --runs N] [--debug | --no-asan] [--no-build] [target ...]
#
#   --seconds N   fuzz each target for N seconds (default 60), after its seed corpus
#   --runs N      instead: stop each target after N executions
#   --debug       build without optimisation and without AddressSanitizer (quicker to build,
#                 slower to run; Swift's debug checks still catch out-of-bounds unsafe buffer
#                 accesses and overflows). CI uses it. The default build is optimised with ASan.
#   --no-asan     optimised without AddressSanitizer: several times the executions per second, for
#                 long runs (Swift's own checks stay; ASan adds little to code without unsafe pointers)
#   --no-build    use the binaries of the previous build
#   --list        print the target names and exit
#
# Seeds come from fuzz/corpus/<target>/ (committed, never written to). What the fuzzer learns
# goes to fuzz/.work/corpus/<target>/, crashing inputs to fuzz/.work/crashes/<target>/ and each
# run's output to fuzz/.work/logs/<target>.log; fuzz/.work/ is ignored by git.
# FUZZ_WORK=<dir> puts those three folders elsewhere. SWIFTPOOL_BUILD_LOCK=<file> makes the build
# wait for that lock (flock) first.
set -euo pipefail
# Physical paths: the build caches remember them, and a symlinked path would be a second copy.
cd -P "$(dirname "$0")"
FUZZ_DIR=$(pwd -P)

TARGETS=(startup-packet client-framing backend-stream sql pgpool-conf pool-hba pool-passwd pcp-conf
         admin-http pcp scram watchdog)
seconds=60 runs= config=release asan=1 build=1 selected=()
while (($#)); do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --debug) config=debug; shift ;;
        --no-asan) asan=0; shift ;;
        --no-build) build=0; shift ;;
        --list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) selected+=("$1"); shift ;;
    esac
done
((${#selected[@]})) || selected=("${TARGETS[@]}")
for t in "${selected[@]}"; do
    [[ " ${TARGETS[*]} " == *" $t "* ]] || { echo "run.sh: no target '$t' (try --list)" >&2; exit 2; }
done

# SwiftPM names a package by its folder. This package is "fuzz" and depends on the repository by
# path, so a checkout in a folder itself called "fuzz" would clash with it.
repo_name=$(basename "$(cd .. && pwd -P)")
if [[ ${repo_name,,} == fuzz ]]; then
    echo "run.sh: the repository's folder is named '$repo_name', the same as fuzz/; SwiftPM would take" >&2
    echo "        one package for the other. Check the repository out under another folder name." >&2
    exit 2
fi

SCRATCH=$FUZZ_DIR/.build-fuzz
sanitizers=fuzzer,address
if [[ $config == debug ]]; then
    sanitizers=fuzzer
elif ((!asan)); then
    # Its own scratch path: the same configuration with other flags would rebuild everything.
    sanitizers=fuzzer SCRATCH=$FUZZ_DIR/.build-fuzz-noasan
fi
BIN=$SCRATCH/$config
if ((build)); then
    echo "== building fuzz targets ($config, -sanitize=$sanitizers)"
    started=$(date +%s)
    lock=()
    [[ -n ${SWIFTPOOL_BUILD_LOCK:-} ]] && lock=(flock "$SWIFTPOOL_BUILD_LOCK")
    "${lock[@]}" swift build -c "$config" --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize="$sanitizers"
    echo "== built in $(( $(date +%s) - started )) s"
fi

WORK=${FUZZ_WORK:-$FUZZ_DIR/.work}
mkdir -p "$WORK/logs"
# The watchdog seeds are envelopes made by the real sealer (committed); written when missing.
if [[ -x $BIN/watchdog ]] && [[ -z $(ls -A corpus/watchdog 2>/dev/null) ]]; then
    mkdir -p corpus/watchdog
    FUZZ_WRITE_SEEDS=$FUZZ_DIR/corpus/watchdog "$BIN/watchdog" >/dev/null 2>&1 || true
fi

# ASan: a leak report at exit would count as a crash; the targets keep caches on purpose.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
# Swift's own crash reporter reads memory ASan considers poisoned; libFuzzer reports the crash.
export SWIFT_BACKTRACE=enable=no
declare -A EXECS RATE CRASH WHERE
failed=0
for t in "${selected[@]}"; do
    corpus=$WORK/corpus/$t crashes=$WORK/crashes/$t log=$WORK/logs/$t.log
    mkdir -p "$corpus" "$crashes" "corpus/$t"
    marker=$WORK/.started-$t
    touch "$marker"
    limit=(-max_total_time="$seconds")
    [[ -n $runs ]] && limit=(-runs="$runs")
    echo "== $t: ${limit[*]#-}"
    set +e
    "$BIN/$t" "$corpus" "corpus/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
    status=$?
    set -e
    EXECS[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    RATE[$t]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    found=$(find "$crashes" -type f -newer "$marker" | wc -l)
    if ((status != 0)) && ((found == 0)); then found=1; fi
    CRASH[$t]=$found
    WHERE[$t]=-
    if ((found)); then
        failed=1
        WHERE[$t]=${crashes#"$FUZZ_DIR/"}/
        grep -m 5 -E 'invariant violated|Fatal error|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY' "$log" | sed 's/^/   /' || true
        echo "   (exit $status; full output in ${log#"$FUZZ_DIR/"})"
    fi
done

echo
printf '%-16s %14s %10s %8s  %s\n' target executions execs/s crashes "crash files"
for t in "${selected[@]}"; do
    printf '%-16s %14s %10s %8s  %s\n' "$t" "${EXECS[$t]:-?}" "${RATE[$t]:-?}" "${CRASH[$t]}" "${WHERE[$t]}"
done
exit $failed
