#!/usr/bin/env bash
# Wall-clock A/B of broker builds against nginx: the native lane of bench/run.sh, the lanes of all
# of them taking turns, round after round, and for each the median over the rounds of req/s, of
# the user, system and total CPU time per request, of the context switches per request and of
# wrk's p50 and p99 (BENCH_CONNECTIONS=1 makes it the latency lane's A/B), of a broker's store
# thread's CPU time and bytes written to its database per request, and the calls that waited for a
# lease top-up, summed over the rounds. BENCH_SETUP "pinned"
# (the default) puts each broker (io_threads = 1) and nginx (one worker) on BENCH_SERVER_CPU and
# the emulation and wrk -t1 on BENCH_LOAD_CPU; "unpinned" gives all of them every core (nginx one
# worker per core, each broker BENCH_IO_THREADS I/O threads, its default when 0, wrk -t2; a list
# such as "1 2" gives the brokers, in order, their own counts, the last one to the rest, so that
# one binary given twice compares thread counts). BENCH_CONNECTIONS connections, 32 by default.
# BENCH_PATH is the brokers' path: the native /openai/v1/chat/completions (the default) or the
# reference's /proxy/chat (the same body; nginx's lane is the same either way).
# On this machine one lane moves by a fifth from run to run, and a p99 by a fifth or more within
# minutes; short lanes taking turns see the same noise, and the median sets most of it aside.
# bench/instructions.sh counts instructions instead.
# Usage: bench/compare.sh BINARY...
#   BENCH_ROUNDS (12), BENCH_SECONDS (2 per lane), BENCH_CONNECTIONS (32), BENCH_SETUP (pinned),
#   BENCH_IO_THREADS (0, unpinned only), BENCH_PATH (/openai/v1/chat/completions)
set -euo pipefail
ROUNDS=${BENCH_ROUNDS:-12}
BROKER_PATH=${BENCH_PATH:-/openai/v1/chat/completions}
[[ "$BROKER_PATH" == /openai/v1/chat/completions || "$BROKER_PATH" == /proxy/chat ]] ||
  { echo "BENCH_PATH must be /openai/v1/chat/completions or /proxy/chat" >&2; exit 2; }
SECONDS_PER_LANE=${BENCH_SECONDS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
for n in "$ROUNDS" "$SECONDS_PER_LANE" "$CONNECTIONS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS, BENCH_SECONDS and BENCH_CONNECTIONS must be positive whole numbers" >&2; exit 2; }
done
(($# > 0)) || { echo "usage: bench/compare.sh BINARY..." >&2; exit 2; }
for tool in wrk nginx curl node taskset; do
  command -v $tool >/dev/null || { echo "compare needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }
done
SETUP=${BENCH_SETUP:-pinned}
case "$SETUP" in
  pinned) SERVER_CPU=${BENCH_SERVER_CPU:-0} LOAD_CPU=${BENCH_LOAD_CPU:-1} WORKERS=1 IO_THREADS=1 WRK_THREADS=1 ;;
  unpinned) SERVER_CPU="" LOAD_CPU="" WORKERS=auto IO_THREADS=${BENCH_IO_THREADS:-0} WRK_THREADS=2 ;;
  *) echo "BENCH_SETUP is pinned or unpinned" >&2; exit 2 ;;
esac
read -ra IO_THREADS <<< "$IO_THREADS"
for n in "${IO_THREADS[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "BENCH_IO_THREADS holds whole numbers" >&2; exit 2; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
bench_scratch compare
declare -A BROKER_PIDS MOCK_PIDS NGINX_PIDS URL CREDENTIAL PID
BIN=$(realpath "$1")
start_mock mock "$LOAD_CPU"
MOCK=$(wait_for_url "$TMP/mock.out")
start_nginx lane "$SERVER_CPU" "$WORKERS" "$MOCK"
URL[nginx]=http://127.0.0.1:$NGINX_PORT_lane/v1/chat/completions
CREDENTIAL[nginx]=test-openai-key
PID[nginx]=${NGINX_PIDS[lane]}
wait_for_nginx "http://127.0.0.1:$NGINX_PORT_lane"
names=(nginx)
n=0
for binary in "$@"; do
  n=$((n + 1))
  threads=${IO_THREADS[n - 1]:-${IO_THREADS[-1]}}
  name=$n-$(basename "$binary")
  [[ "$SETUP" == unpinned ]] && name+=-io$( ((threads)) && echo "$threads" || echo default)
  BIN=$(realpath "$binary")
  start_broker "$name" "$SERVER_CPU" "$MOCK" "$threads"
  url=$(wait_for_url "$TMP/$name.out")
  read -r _ token <<< "$(limited_token "$url" "$(owner_token "$TMP/$name.out")")"
  names+=("$name")
  URL[$name]=$url$BROKER_PATH
  CREDENTIAL[$name]=$token
  PID[$name]=${BROKER_PIDS[$name]}
done
STREAM=0 LOAD_CPUS=$LOAD_CPU

# Clock ticks of user and system time, of the process and its children (nginx's worker).
waits_of() { [[ $1 == nginx ]] && echo 0 || lease_waits "$1"; }  # lane name -> lease waits so far
ticks() {
  local user=0 system=0 p u s
  for p in "$1" $(pgrep -P "$1"); do
    read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat")
    user=$((user + u)) system=$((system + s))
  done
  echo "$user $system"
}
# Context switches so far, voluntary and not, of every thread of the process and its children.
switches() {
  local total=0 p t
  for p in "$1" $(pgrep -P "$1"); do
    for t in /proc/"$p"/task/*/status; do
      total=$((total + $(awk '/^(non)?voluntary_ctxt_switches/ {n += $2} END {print n + 0}' "$t" 2>/dev/null || true)))
    done
  done
  echo "$total"
}

# Clock ticks of a broker's store thread, user and system (0 for nginx, or a build whose threads
# have no names).
store_ticks() {
  local t total=0
  for t in /proc/"$1"/task/*; do
    [[ "$(cat "$t/comm" 2>/dev/null)" == ap-store ]] && total=$((total + $(awk '{print $14 + $15}' "$t/stat")))
  done
  echo "$total"
}
# Bytes a broker has written with write and pwrite so far: its database and log, and Asio's 8-byte
# wake-ups (its sockets use sendmsg, which is not counted). Not read for nginx, whose sockets' writev
# is counted.
disk_bytes() { [[ $1 == nginx ]] && echo 0 || awk '/^wchar/ {print $2}' "/proc/${PID[$1]}/io"; }

echo "aipassport compare: $(date -u +%Y-%m-%dT%H:%M:%SZ), $SETUP, $ROUNDS rounds of ${SECONDS_PER_LANE}s lanes, $CONNECTIONS connections, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${names[@]}"; do (SECONDS_PER_LANE=1; run_lane warmup "${URL[$name]}" "${CREDENTIAL[$name]}" "$CONNECTIONS" >/dev/null); done
hz=$(getconf CLK_TCK)
for _ in $(seq "$ROUNDS"); do
  for name in "${names[@]}"; do
    read -r u0 s0 <<< "$(ticks "${PID[$name]}")"
    w0=$(switches "${PID[$name]}") st0=$(store_ticks "${PID[$name]}") d0=$(disk_bytes "$name")
    waits0=$(waits_of "$name")
    read -r rps p50 p99 <<< "$(run_lane "$name" "${URL[$name]}" "${CREDENTIAL[$name]}" "$CONNECTIONS")"
    sleep 0.3  # a broker writes the lane's last activity rows within its 250 ms flush
    read -r u1 s1 <<< "$(ticks "${PID[$name]}")"
    w1=$(switches "${PID[$name]}") st1=$(store_ticks "${PID[$name]}") d1=$(disk_bytes "$name")
    awk -v n="$name" -v r="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v w=$((w1 - w0)) -v t="$SECONDS_PER_LANE" \
      -v hz="$hz" -v p50="$p50" -v p99="$p99" -v waits=$(($(waits_of "$name") - waits0)) -v st=$((st1 - st0)) \
      -v d=$((d1 - d0)) 'BEGIN {k = 1e6 / hz / (r * t)
        printf "%s %d %.1f %.1f %.1f %.2f %.3f %.3f %d %.2f %.0f\n", n, r, u * k, s * k, (u + s) * k, w / (r * t), p50, p99,
          waits, st * k, d / (r * t)}'
  done
done > "$TMP/rounds"
printf '%-28s %8s %8s %8s %8s %9s %10s %8s %8s %11s %9s %8s\n' "" "req/s" "user us" "sys us" "CPU us" "switches" \
  "vs nginx" "p50 ms" "p99 ms" "lease waits" "store us" "disk B"
nginx_rps=$(awk '$1 == "nginx" {print $2}' "$TMP/rounds" | median)
for name in "${names[@]}"; do
  col() { awk -v n="$name" -v c="$1" '$1 == n {print $c}' "$TMP/rounds" | median; }
  rps=$(col 2)
  broker() { [[ $name == nginx ]] && echo - || echo "$1"; }
  printf '%-28s %8.0f %8.1f %8.1f %8.1f %9.2f %9.2fx %8.3f %8.3f %11s %9s %8s\n' "$name" "$rps" "$(col 3)" "$(col 4)" \
    "$(col 5)" "$(col 6)" "$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN {print a / b}')" "$(col 7)" "$(col 8)" \
    "$(broker "$(awk -v n="$name" '$1 == n {s += $9} END {print s}' "$TMP/rounds")")" "$(broker "$(col 10)")" \
    "$(broker "$(col 11)")"
done
echo "(medians over the rounds; CPU per request is the process's user and system time over its requests;"
echo " switches are its threads' context switches per request; p50 and p99 are wrk's, of the whole call;"
echo " lease waits are the calls that waited for the store to top up their grant's lease, over all rounds;"
echo " store us is the store thread's share of the CPU per request, disk B the bytes written to the database"
echo " and its log per request)"
