#!/usr/bin/env bash
# Where the broker's time goes (issue 13): by default the pinned native lane of bench/run.sh (the
# broker with io_threads = 1 on one core, the mock upstream and wrk -t1 on another, 32 connections, a grant
# with every limit) while `perf record -g` samples the broker; then prints the share of each
# library and the hottest functions. Needs perf (scripts/install-deps.sh bench: linux-perf).
# Release builds keep no frame pointers, so the call graphs are shallow; the flat profile is exact.
# Usage: bench/profile.sh [path/to/aipassport]
#   PROFILE_SECONDS (10), PROFILE_WORKLOAD (native | reference | stream), PROFILE_CONNECTIONS (32),
#   PROFILE_OUT (a path to keep perf.data at, for perf report -i), BENCH_SERVER_CPU, BENCH_LOAD_CPU,
#   BENCH_SETUP ("unpinned": the broker with BENCH_IO_THREADS I/O threads, its default when 0, and
#   the mock upstream and wrk -t2 on every core, as in bench/compare.sh)
set -euo pipefail
BIN=$(realpath "${1:-build/src/aipassport}")
SECONDS_PER_LANE=${PROFILE_SECONDS:-10}
WORKLOAD=${PROFILE_WORKLOAD:-native}
CONNECTIONS=${PROFILE_CONNECTIONS:-32}
case "${BENCH_SETUP:-pinned}" in
  pinned) SERVER_CPU=${BENCH_SERVER_CPU:-0} LOAD_CPU=${BENCH_LOAD_CPU:-1} IO_THREADS=1 WRK_THREADS=1 ;;
  unpinned) SERVER_CPU="" LOAD_CPU="" IO_THREADS=${BENCH_IO_THREADS:-0} WRK_THREADS=2 ;;
  *) echo "BENCH_SETUP is pinned or unpinned" >&2; exit 2 ;;
esac
[[ "$IO_THREADS" =~ ^[0-9]+$ ]] || { echo "BENCH_IO_THREADS must be a whole number" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
bench_scratch profile
declare -A BROKER_PIDS MOCK_PIDS
for tool in wrk curl node taskset perf; do command -v $tool >/dev/null || { echo "profile needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }; done

start_mock mock "$LOAD_CPU"
MOCK=$(wait_for_url "$TMP/mock.out")
start_broker broker "$SERVER_CPU" "$MOCK" "$IO_THREADS"
BROKER=$(wait_for_url "$TMP/broker.out")
read -r _ TOKEN <<< "$(limited_token "$BROKER" "$(owner_token "$TMP/broker.out")")"
STREAM=0 PATH_=/openai/v1/chat/completions
case $WORKLOAD in
  reference) PATH_=/proxy/chat ;;
  stream) STREAM=1 ;;
esac
LOAD_CPUS=$LOAD_CPU
(SECONDS_PER_LANE=1; run_lane warmup "$BROKER$PATH_" "$TOKEN" "$CONNECTIONS" >/dev/null)

echo "aipassport profile: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${BENCH_SETUP:-pinned}, $WORKLOAD, $CONNECTIONS connections, ${SECONDS_PER_LANE}s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -g -p "${BROKER_PIDS[broker]}" -o "$TMP/perf.data" -- sleep "$SECONDS_PER_LANE" > "$TMP/perf.out" 2>&1 & PIDS+=($!)
PERF=$!
read -r rps p50 p99 <<< "$(run_lane broker "$BROKER$PATH_" "$TOKEN" "$CONNECTIONS")"
wait "$PERF" || { echo "perf record failed:" >&2; cat "$TMP/perf.out" >&2; exit 1; }
echo "broker: $rps req/s, p50 $p50 ms, p99 $p99 ms (while profiled)"
event=$(perf evlist -i "$TMP/perf.data" 2>/dev/null | head -1)
echo "event: $event"
# Without hardware counters (a virtual machine) perf samples on a timer, and the kernel's share
# lands on the instruction that re-enables interrupts rather than on the work before it.
[[ $event == cpu-clock* ]] && echo "(a timer, not cycles: this machine gives perf no hardware counters)"
echo
echo "By library:"
perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none > "$TMP/dso.txt" 2>/dev/null
awk '!/^#/ && NF {print; if (++n == 15) exit}' "$TMP/dso.txt"
echo
echo "Hottest functions:"
perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none > "$TMP/sym.txt" 2>/dev/null
awk '!/^#/ && NF {print; if (++n == 60) exit}' "$TMP/sym.txt"
[[ -n "${PROFILE_OUT:-}" ]] && cp "$TMP/perf.data" "$PROFILE_OUT" && echo "perf.data kept at $PROFILE_OUT"
true
