#!/usr/bin/env bash
# The broker against nginx and its own targets (issue 13), in one run on this machine, printed as
# one table with the targets beside the measured values. A benchmark, not a test: nothing here
# fails on a slow number; numbers from a busy machine (the load average is printed) are indicative.
#
# Lanes (BENCH_LANES picks; all by default):
#   throughput  wrk against the mock upstream directly, through nginx proxy_pass (upstream
#               keep-alive) and through the broker with a grant carrying every limit (budget,
#               request cap, rate limit, in-flight limit), for /proxy/chat ("reference") and
#               /openai/v1/chat/completions ("native"), at BENCH_CONNECTIONS, in two setups
#               (BENCH_SETUPS): "pinned" puts the broker and nginx on one core (BENCH_SERVER_CPU;
#               nginx worker_processes 1, the broker io_threads = 1) and the mock upstream and wrk
#               on another (BENCH_LOAD_CPU, wrk -t1); "unpinned" gives all of them every core (nginx
#               one worker per core, the broker's default threads, wrk -t2).
#   latency     the same at one connection: p50 and p99 added to the direct call, nginx and broker,
#               in BENCH_LATENCY_ROUNDS rounds of lanes taking turns, each added time taken against
#               its round's direct call and reported as the median over the rounds.
#   streams     streamed calls one at a time (bench/stream_probe.cpp, built with the broker): the
#               added time to the first event (p50, p99) of nginx (proxy_buffering off, as one
#               proxies server-sent events) and of the broker, the three taking turns stream by
#               stream, and, on a stream of BENCH_LONG_EVENTS events sent back to back, the broker's
#               added time and CPU time per relayed event.
#   memory      a broker that served nothing else: its RSS once started, its peak RSS (VmHWM)
#               while BENCH_CONCURRENT_STREAMS streams run at once (all must complete), its RSS
#               while BENCH_IDLE_CONNECTIONS kept-alive connections sit idle.
#   micro       the micro-benchmarks (build/bench/ap_micro_bench), if built.
# Usage: bench/run.sh [path/to/aipassport]
#   BENCH_SECONDS (5 per throughput lane), BENCH_LATENCY_ROUNDS (5), BENCH_LATENCY_SECONDS (2 per
#   latency lane), BENCH_CONNECTIONS ("32 256"), BENCH_WORKLOADS ("reference native"; "stream" adds
#   wrk on streamed calls), BENCH_SETUPS, BENCH_LANES, BENCH_STREAMS (2000 streams of each of the
#   three timed one at a time), BENCH_LONG_STREAMS (30), BENCH_LONG_EVENTS (1000),
#   BENCH_CONCURRENT_STREAMS (1000), BENCH_IDLE_CONNECTIONS (10000), BENCH_STREAM_PROBE (the probe:
#   build/bench/ap_stream_probe).
set -euo pipefail
BIN=$(realpath "${1:-build/src/aipassport}")
SECONDS_PER_LANE=${BENCH_SECONDS:-5}
LATENCY_ROUNDS=${BENCH_LATENCY_ROUNDS:-5}
LATENCY_SECONDS=${BENCH_LATENCY_SECONDS:-2}
for n in "$SECONDS_PER_LANE" "$LATENCY_ROUNDS" "$LATENCY_SECONDS" "${BENCH_STREAMS:-2000}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || {
    echo "BENCH_SECONDS, BENCH_LATENCY_ROUNDS, BENCH_LATENCY_SECONDS and BENCH_STREAMS must be positive whole numbers" >&2
    exit 2
  }
done
CONNECTIONS=${BENCH_CONNECTIONS:-"32 256"}
WORKLOADS=${BENCH_WORKLOADS:-"reference native"}
SETUPS=${BENCH_SETUPS:-"pinned unpinned"}
LANES=${BENCH_LANES:-"throughput latency streams memory"}  # make bench runs the micro-benchmarks before
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
SEQUENTIAL=${BENCH_STREAMS:-2000}
LONG_STREAMS=${BENCH_LONG_STREAMS:-30}
LONG_EVENTS=${BENCH_LONG_EVENTS:-1000}
CONCURRENT=${BENCH_CONCURRENT_STREAMS:-1000}
IDLE=${BENCH_IDLE_CONNECTIONS:-10000}
HERE=$(cd "$(dirname "$0")" && pwd)
PROBE=${BENCH_STREAM_PROBE:-$HERE/../build/bench/ap_stream_probe}
source "$HERE/lib.sh"
bench_scratch bench
declare -A BROKER_PIDS MOCK_PIDS NGINX_PIDS
for tool in wrk nginx curl node taskset; do command -v $tool >/dev/null || { echo "bench needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }; done
has() { [[ " $1 " == *" $2 "* ]]; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
if has "$LANES" streams && [[ ! -x "$PROBE" ]]; then
  echo "the streams lane needs the stream probe, $PROBE (make build; BENCH_STREAM_PROBE names another)" >&2
  exit 1
fi

# Every process started here inherits this: 10,000 idle connections need as many descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if has "$LANES" memory && (($(ulimit -n) < IDLE + 512)); then
  echo "ulimit -n is $(ulimit -n): too low for $IDLE connections; BENCH_IDLE_CONNECTIONS lowered" >&2
  IDLE=$(($(ulimit -n) - 512))
fi
if has "$SETUPS" pinned && (($(nproc) < 2)); then
  echo "one core: no pinned setup" >&2
  SETUPS=${SETUPS//pinned/}
fi

# Servers. Each is started in this shell (not in $(...)) so that cleanup knows its pid.
wrk_lanes=0
{ has "$LANES" throughput || has "$LANES" latency; } && wrk_lanes=1
if ((wrk_lanes)) && has "$SETUPS" pinned; then start_mock mock_pinned "$LOAD_CPU"; fi
if { ((wrk_lanes)) && has "$SETUPS" unpinned; } || has "$LANES" streams; then start_mock mock_unpinned ""; fi
has "$LANES" streams && start_mock mock_long "" --stream-chunks "$LONG_EVENTS"
# Streams that last about a second, so that they all run at once.
has "$LANES" memory && start_mock mock_slow "" --stream-chunks 20 --stream-delay-ms 50
declare -A MOCK
for m in "${!MOCK_PIDS[@]}"; do MOCK[$m]=$(wait_for_url "$TMP/$m.out"); done
if ((wrk_lanes)) && has "$SETUPS" pinned; then
  start_nginx pinned "$SERVER_CPU" 1 "${MOCK[mock_pinned]}"
  start_broker broker_pinned "$SERVER_CPU" "${MOCK[mock_pinned]}" 1
fi
if ((wrk_lanes)) && has "$SETUPS" unpinned; then start_nginx unpinned "" auto "${MOCK[mock_unpinned]}"; fi
has "$LANES" streams && start_nginx streams "" auto "${MOCK[mock_unpinned]}" "proxy_buffering off;"
if { ((wrk_lanes)) && has "$SETUPS" unpinned; } || has "$LANES" streams; then
  start_broker broker_unpinned "" "${MOCK[mock_unpinned]}" 0
fi
has "$LANES" streams && start_broker broker_long "" "${MOCK[mock_long]}" 0
has "$LANES" memory && BROKER_METRICS=0 start_broker broker_memory "" "${MOCK[mock_slow]}" 0
declare -A BROKER GRANT TOKEN
for b in "${!BROKER_PIDS[@]}"; do
  BROKER[$b]=$(wait_for_url "$TMP/$b.out")
  read -r GRANT[$b] TOKEN[$b] <<< "$(limited_token "${BROKER[$b]}" "$(owner_token "$TMP/$b.out")")"
done
declare -A NGINX
for s in pinned unpinned streams; do
  port_var=NGINX_PORT_$s
  [[ -n "${!port_var:-}" ]] && { NGINX[$s]=http://127.0.0.1:${!port_var}; wait_for_nginx "${NGINX[$s]}"; }
done

is_stream() { [[ $1 == stream ]] && echo 1 || echo 0; }
path_of() { case $1 in reference) echo /proxy/chat ;; *) echo /openai/v1/chat/completions ;; esac; }
SUMMARY=()
summary() {  # lane direct nginx broker ratio target met
  SUMMARY+=("$(printf '%-66s %9s %9s %9s %8s %9s %4s' "$@")")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "n/a"}'; }
at_least() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "yes" : "NO"}'; }
at_most() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "yes" : "NO"}'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a - b}'; }  # latency, direct latency -> us added
us() { awk -v a="$1" -v b="${2:-0}" 'BEGIN {printf "%.0f", (a - b) * 1000}'; }  # ms [minus ms] -> us

echo "aipassport bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, ${SECONDS_PER_LANE}s per throughput lane, load average $(load)"
echo "$BIN"
# The CPU time per request of the server a lane measures (the mock upstream for direct) says
# what the server costs even where the load generator's core, not the server's, is the limit.
lane() {  # setup name url credential connections stream server_pid -> prints a raw line, sets RPS P50 P99 CPU_US
  local out before after seconds=$SECONDS_PER_LANE
  before=$(cpu_ns "$7")
  STREAM=$6 out=$(run_lane "$2" "$3" "$4" "$5")
  after=$(cpu_ns "$7")
  read -r RPS P50 P99 <<< "$out"
  CPU_US=$(awk -v n="$((after - before))" -v r="$RPS" -v s="$seconds" 'BEGIN {printf "%.1f", (r > 0 ? n / 1000 / (r * s) : 0)}')
  printf '%-9s %-6s %-10s %-10s %10s %9s %9s %11s\n' "$1" "$5" "$2" "$([[ $6 == 1 ]] && echo stream || echo whole)" "$RPS" "$P50" "$P99" "$CPU_US"
}
setup_env() {  # setup: pins wrk in the pinned one
  if [[ $1 == pinned ]]; then LOAD_CPUS=$LOAD_CPU WRK_THREADS=1; else LOAD_CPUS="" WRK_THREADS=2; fi
  MOCK_URL=${MOCK[mock_$1]} NGINX_URL=${NGINX[$1]} BROKER_URL=${BROKER[broker_$1]} BROKER_TOKEN=${TOKEN[broker_$1]}
  MOCK_PID=${MOCK_PIDS[mock_$1]} NGINX_PID=${NGINX_PIDS[$1]} BROKER_PID=${BROKER_PIDS[broker_$1]}
}

if ((wrk_lanes)); then
  echo
  printf '%-9s %-6s %-10s %-10s %10s %9s %9s %11s\n' setup conns lane answer "req/s" "p50 ms" "p99 ms" "cpu us/req"
fi
if has "$LANES" throughput; then
  for s in $SETUPS; do
    setup_env "$s"
    for c in $CONNECTIONS; do
      echo "# load average $(load)"
      for stream in 0 1; do
        want=0
        for w in $WORKLOADS; do [[ $(is_stream "$w") == "$stream" ]] && want=1; done
        ((want)) || continue
        lane "$s" direct "$MOCK_URL/v1/chat/completions" test-openai-key "$c" $stream "$MOCK_PID"
        d_rps=$RPS
        lane "$s" nginx "$NGINX_URL/v1/chat/completions" test-openai-key "$c" $stream "$NGINX_PID"
        n_rps=$RPS n_cpu=$CPU_US
        for w in $WORKLOADS; do
          [[ $(is_stream "$w") == "$stream" ]] || continue
          waits=$(lease_waits "broker_$s")
          lane "$s" "$w" "$BROKER_URL$(path_of "$w")" "$BROKER_TOKEN" "$c" $stream "$BROKER_PID"
          echo "#   $(($(lease_waits "broker_$s") - waits)) calls waited for a lease top-up (a grant's first calls do)"
          name="$s, $c conns, $(path_of "$w")$([[ $w == stream ]] && echo ' stream' || true)"
          summary "req/s, $name" "$d_rps" "$n_rps" "$RPS" "$(ratio "$RPS" "$n_rps")" ">=1.00x" \
            "$(at_least "$(ratio "$RPS" "$n_rps" | tr -d x)" 1)"
          summary "CPU us/req, $name" - "$n_cpu" "$CPU_US" "$(ratio "$CPU_US" "$n_cpu")" - -
        done
      done
    done
  done
fi

# A p99 at one connection drifts by a fifth or more within minutes here, more than what separates
# nginx from the broker: the lanes take turns, round after round, each lane's added time is taken
# against the direct call of its own round, and each figure is the median over the rounds.
latency_lane() {  # setup name url credential pid: one lane of a round; sets P50 P99
  SECONDS_PER_LANE=$LATENCY_SECONDS lane "$1" "$2" "$3" "$4" 1 0 "$5"
}
median_of() { printf '%s' "$1" | median; }  # figures, one a line -> their median
if has "$LANES" latency; then
  for s in $SETUPS; do
    setup_env "$s"
    echo "# load average $(load), $LATENCY_ROUNDS rounds of ${LATENCY_SECONDS}s lanes"
    declare -A ADDED50=() ADDED99=()  # by lane: the added us of each round, one a line
    direct50="" direct99=""
    for _ in $(seq "$LATENCY_ROUNDS"); do
      latency_lane "$s" direct "$MOCK_URL/v1/chat/completions" test-openai-key "$MOCK_PID"
      d50=$P50 d99=$P99
      direct50+="$(us "$d50")"$'\n' direct99+="$(us "$d99")"$'\n'
      for name in nginx $WORKLOADS; do
        case $name in
          stream) continue ;;
          nginx) latency_lane "$s" nginx "$NGINX_URL/v1/chat/completions" test-openai-key "$NGINX_PID" ;;
          *) latency_lane "$s" "$name" "$BROKER_URL$(path_of "$name")" "$BROKER_TOKEN" "$BROKER_PID" ;;
        esac
        ADDED50[$name]+="$(us "$P50" "$d50")"$'\n' ADDED99[$name]+="$(us "$P99" "$d99")"$'\n'
      done
    done
    d50=$(median_of "$direct50") d99=$(median_of "$direct99")
    n50=$(median_of "${ADDED50[nginx]}") n99=$(median_of "${ADDED99[nginx]}")
    for w in $WORKLOADS; do
      [[ $w == stream ]] && continue
      b50=$(median_of "${ADDED50[$w]}") b99=$(median_of "${ADDED99[$w]}")
      summary "added p50 us, $s, 1 conn, $(path_of "$w")" "$d50" "$n50" "$b50" "$(ratio "$b50" "$n50")" "<=1.00x" "$(at_most "$b50" "$n50")"
      summary "added p99 us, $s, 1 conn, $(path_of "$w")" "$d99" "$n99" "$b99" "$(ratio "$b99" "$n99")" "<=1.00x" "$(at_most "$b99" "$n99")"
    done
  done
fi

if has "$LANES" streams; then
  echo
  echo "# streams one at a time, load average $(load)"
  printf '%-24s %9s %9s %14s %7s %12s\n' lane "first p50" "first p99" "rest p50 us" events "cpu ms"
  stream_line() {  # name "first_p50 first_p99 rest_p50 events" [cpu_ns]: printed; sets F50 F99 REST EVENTS CPU
    read -r F50 F99 REST EVENTS <<< "$2"
    CPU=${3:-0}
    printf '%-24s %9s %9s %14s %7s %12s\n' "$1" "$F50" "$F99" "$REST" "$EVENTS" "$(awk -v n="$CPU" 'BEGIN {printf "%.1f", n / 1e6}')"
  }
  # The three take turns stream by stream, each on its own kept-alive connection: what slows the
  # machine for a moment slows them alike, and each p99 is of BENCH_STREAMS streams.
  WARMUP=50  # untimed streams the probe makes first on each connection
  mapfile -t lines < <("$PROBE" "$SEQUENTIAL" "$WARMUP" "${MOCK[mock_unpinned]}/v1/chat/completions" test-openai-key \
    "${NGINX[streams]}/v1/chat/completions" test-openai-key \
    "${BROKER[broker_unpinned]}/openai/v1/chat/completions" "${TOKEN[broker_unpinned]}")
  ((${#lines[@]} == 3)) || { echo "the stream probe failed" >&2; exit 1; }
  stream_line "direct, short" "${lines[0]}"
  d50=$F50 d99=$F99
  stream_line "nginx, short" "${lines[1]}"
  nginx50=$(added "$F50" "$d50") nginx99=$(added "$F99" "$d99")
  stream_line "broker, short" "${lines[2]}"
  added50=$(added "$F50" "$d50") added99=$(added "$F99" "$d99")
  summary "stream added us to first event, p50, one at a time" "$d50" "$nginx50" "$added50" - - -
  summary "stream added us to first event, p99, one at a time" "$d99" "$nginx99" "$added99" - "<=150us" "$(at_most "$added99" 150)"
  stream_line "direct, $LONG_EVENTS pieces" "$("$PROBE" "$LONG_STREAMS" "$WARMUP" "${MOCK[mock_long]}/v1/chat/completions" test-openai-key)"
  d_rest=$REST
  pid=${BROKER_PIDS[broker_long]}
  before=$(cpu_ns "$pid")
  line=$("$PROBE" "$LONG_STREAMS" "$WARMUP" "${BROKER[broker_long]}/openai/v1/chat/completions" "${TOKEN[broker_long]}")
  stream_line "broker, $LONG_EVENTS pieces" "$line" "$(($(cpu_ns "$pid") - before))"  # the warm-up's CPU too
  per_event=$(awk -v a="$REST" -v b="$d_rest" -v n="$EVENTS" 'BEGIN {printf "%.1f", (a - b) / (n - 1)}')
  cpu_event=$(awk -v c="$CPU" -v s="$((LONG_STREAMS + WARMUP))" -v n="$EVENTS" 'BEGIN {printf "%.1f", c / 1000 / (s * n)}')
  summary "stream added us per relayed event ($EVENTS events)" \
    "$(awk -v a="$d_rest" -v n="$EVENTS" 'BEGIN {printf "%.1f", a / (n - 1)}')" - "$per_event" - "<=20us" "$(at_most "$per_event" 20)"
  summary "stream broker CPU us per relayed event" - - "$cpu_event" - - -
fi

if has "$LANES" memory; then
  echo
  echo "# memory, load average $(load)"
  b=broker_memory pid=${BROKER_PIDS[broker_memory]}
  sleep 1
  idle_mb=$(awk -v k="$(rss_kb "$pid" VmRSS)" 'BEGIN {printf "%.1f", k / 1024}')
  echo "idle after start: VmRSS $idle_mb MB"
  read -r completed failed <<< "$(node "$HERE/streams.mjs" concurrent "${BROKER[$b]}/openai/v1/chat/completions" "${TOKEN[$b]}" "$CONCURRENT")"
  completed=${completed:-0} failed=${failed:-?}
  peak_mb=$(awk -v k="$(rss_kb "$pid" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')
  echo "$CONCURRENT streams at once: $completed completed, $failed failed; VmHWM $peak_mb MB"
  read -r held rss <<< "$(node "$HERE/streams.mjs" idle "${BROKER[$b]}" "$IDLE" "$pid")"
  held=${held:-0}
  idle_conn_mb=$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')
  echo "$IDLE idle keep-alive connections: $held held; VmRSS $idle_conn_mb MB (VmHWM $(awk -v k="$(rss_kb "$pid" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}') MB)"
  summary "RSS MB, idle after start" - - "$idle_mb" - "<=20MB" "$(at_most "$idle_mb" 20)"
  ok=$(at_most "$peak_mb" 64)
  ((completed == CONCURRENT)) || ok=NO
  summary "peak RSS MB, $CONCURRENT streams at once ($completed completed)" - - "$peak_mb" - "<=64MB" "$ok"
  ok=$(at_most "$idle_conn_mb" 100)
  ((held == IDLE)) || ok=NO
  summary "RSS MB, $IDLE idle keep-alive connections ($held held)" - - "$idle_conn_mb" - "<=100MB" "$ok"
fi

for b in "${!BROKER_PIDS[@]}"; do
  used=$(curl -sf "${BROKER[$b]}/grants/${GRANT[$b]}" -H "authorization: Bearer $(owner_token "$TMP/$b.out")" | json .usageCount)
  echo "$b: its grant counted $used calls"
done

echo
echo "Summary (issue 13 targets), load average $(load):"
printf '%-66s %9s %9s %9s %8s %9s %4s\n' lane direct nginx broker ratio target met
printf '%s\n' "${SUMMARY[@]}"
echo "(direct: the call without a proxy, its req/s or its own latency in us; nginx and broker: their req/s,"
echo " the CPU time they spent per request, or the latency they add to the direct call)"

MICRO=$(dirname "$BIN")/../bench/ap_micro_bench
if has "$LANES" micro && [[ -x "$MICRO" ]]; then
  echo
  "$MICRO" --benchmark_min_time=0.2 2>/dev/null | grep -E '^(BM_|Benchmark|-)'
fi
