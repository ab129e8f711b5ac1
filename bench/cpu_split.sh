#!/usr/bin/env bash
# Where the whole machine's CPU goes in the unpinned lane (issue 13): each of nginx and a broker
# serves the native lane in turn, everything on every core as in `BENCH_SETUP=unpinned
# bench/compare.sh`, and for each lane it prints the CPU time per request of the server, of the
# emulation and of wrk, how busy the machine was, and, with perf, the server's system calls and
# context switches per request. In this lane the machine is the bottleneck, so a server's ratio to
# nginx is set by its own CPU per request against the others': the emulation's and wrk's should
# be about the same in both lanes, and the difference the server's.
# Usage: bench/cpu_split.sh [path/to/aipassport]
#   BENCH_CONNECTIONS (256), BENCH_ROUNDS (3), BENCH_SECONDS (3 per lane), BENCH_IO_THREADS (0: the
#   broker's default)
set -euo pipefail
CONNECTIONS=${BENCH_CONNECTIONS:-256}
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_LANE=${BENCH_SECONDS:-3}
THREADS=${BENCH_IO_THREADS:-0}
for n in "$CONNECTIONS" "$ROUNDS" "$SECONDS_PER_LANE"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_CONNECTIONS, BENCH_ROUNDS and BENCH_SECONDS must be positive whole numbers" >&2; exit 2; }
done
[[ "$THREADS" =~ ^[0-9]+$ ]] || { echo "BENCH_IO_THREADS is a whole number" >&2; exit 2; }
for tool in wrk nginx curl node; do
  command -v $tool >/dev/null || { echo "cpu_split needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
BIN=$(realpath "${1:-$HERE/../build/src/aipassport}")
[[ -x "$BIN" ]] || { echo "no broker at $BIN (make build)" >&2; exit 1; }
bench_scratch cpu-split
declare -A BROKER_PIDS MOCK_PIDS NGINX_PIDS
start_mock mock ""
MOCK=$(wait_for_url "$TMP/mock.out")
start_nginx lane "" auto "$MOCK"
wait_for_nginx "http://127.0.0.1:$NGINX_PORT_lane"
start_broker broker "" "$MOCK" "$THREADS"
url=$(wait_for_url "$TMP/broker.out")
read -r _ token <<< "$(limited_token "$url" "$(owner_token "$TMP/broker.out")")"
perf_ok=0
perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 && perf_ok=1

ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }  # busy idle, in ticks
hz=$(getconf CLK_TCK)
echo "aipassport cpu split: $(date -u +%Y-%m-%dT%H:%M:%SZ), unpinned, $CONNECTIONS connections, $ROUNDS rounds of ${SECONDS_PER_LANE}s lanes, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %8s %11s %10s %10s %9s %15s %15s\n' "" "req/s" "server us" "mock us" "wrk us" "busy %" "syscalls/req" "switches/req"
for _ in $(seq "$ROUNDS"); do
  for lane in nginx broker; do
    if [[ $lane == nginx ]]; then
      target=http://127.0.0.1:$NGINX_PORT_lane/v1/chat/completions credential=test-openai-key
      read -ra server <<< "$(pgrep -P "${NGINX_PIDS[lane]}" | tr '\n' ' ')"
    else
      target=$url/openai/v1/chat/completions credential=$token server=("${BROKER_PIDS[broker]}")
    fi
    s0=$(ticks "${server[@]}") m0=$(ticks "${MOCK_PIDS[mock]}")
    read -r busy0 idle0 <<< "$(machine)"
    stat=()
    ((perf_ok)) && stat=(perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$(IFS=,; echo "${server[*]}")" -o "$TMP/$lane.stat" --)
    out=$(BENCH_CREDENTIAL=$credential BENCH_STREAM=0 "${stat[@]}" /usr/bin/time -f "%U %S" -o "$TMP/wrk.time" \
      wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_LANE}s" -s "$HERE/post.lua" "$target")
    if echo "$out" | grep -q "Non-2xx"; then echo "lane $lane got errors:" >&2; echo "$out" >&2; exit 1; fi
    s1=$(ticks "${server[@]}") m1=$(ticks "${MOCK_PIDS[mock]}")
    read -r busy1 idle1 <<< "$(machine)"
    read -r wu ws < "$TMP/wrk.time"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    syscalls=- switches=-
    if ((perf_ok)); then
      syscalls=$(awk -F, -v n="$rps" -v t="$SECONDS_PER_LANE" '$3 ~ /raw_syscalls/ {printf "%.2f", $1 / (n * t)}' "$TMP/$lane.stat")
      switches=$(awk -F, -v n="$rps" -v t="$SECONDS_PER_LANE" '$3 ~ /context-switches/ {printf "%.2f", $1 / (n * t)}' "$TMP/$lane.stat")
    fi
    awk -v l="$lane" -v r="$rps" -v t="$SECONDS_PER_LANE" -v hz="$hz" -v s=$((s1 - s0)) -v m=$((m1 - m0)) -v wu="$wu" \
      -v ws="$ws" -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) -v sc="$syscalls" -v sw="$switches" 'BEGIN {
        n = r * t; k = 1e6 / hz / n
        printf "%-8s %8.0f %11.1f %10.1f %10.1f %9.1f %15s %15s\n", l, r, s * k, m * k, (wu + ws) * 1e6 / n, 100 * b / (b + i), sc, sw }'
  done
done
echo "(CPU per request: user and system time of the server (nginx: its workers), the emulation and wrk over"
echo " the lane's requests; busy: the share of all cores not idle during the lane; system calls and"
echo " context switches of the server's threads, from perf stat, when perf may count them)"
