# Shared by the benchmark scripts (sourced): free ports, servers, tokens, wrk lanes.
# The start_* functions run in the caller's shell (never call them in $(...)): the server's pid
# must land in the caller's PIDS for its cleanup; read the URL afterwards with wait_for_url.

# Brokers stay open to their user's tools (perf, callgrind, /proc/PID/io), as a benchmark run by
# a user other than root needs: without it a broker marks itself not dumpable (README).
export AIPASSPORT_DEBUGGABLE=1

# A scratch directory ($TMP) and the processes to stop ($PIDS), both cleaned up when the script
# ends; an interrupt stops the run (wrk outlives a Ctrl-C) rather than going on to the next lane.
# BENCH_ON_EXIT, when set, names one more command to run at the end.
bench_scratch() {  # name
  TMP=$(mktemp -d "/tmp/aipassport-$1-XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'echo stopped >&2; exit 130' INT TERM
}
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${BENCH_ON_EXIT:-}" ]] && $BENCH_ON_EXIT >/dev/null 2>&1
  rm -rf "$TMP"
}

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for_url() {  # file [tenths of a second to wait, 100] -> URL printed as "listening on URL"
  for _ in $(seq "${2:-100}"); do
    url=$(grep -o 'listening on http://[^ ]*' "$1" 2>/dev/null | head -1 | cut -d' ' -f3) && [[ -n "$url" ]] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no URL in $1:" >&2; cat "$1" >&2; exit 1
}
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s)$1))"; }

# pin CPUS: the taskset prefix that keeps a command on CPUS ("" for no pinning).
pin() { [[ -n "$1" ]] && echo "taskset -c $1" || true; }

start_mock() {  # name cpus [mock-upstream flags...]; output in $TMP/name.out, pid in MOCK_PIDS[name]
  local name=$1 cpus=$2
  shift 2
  $(pin "$cpus") "$BIN" mock-upstream --listen 127.0.0.1:0 "$@" > "$TMP/$name.out" 2>&1 & PIDS+=($!)
  MOCK_PIDS[$name]=$!
}

# A broker's metrics port, by name (for lease_waits). BROKER_METRICS=0 starts one without metrics
# (as a broker runs by default: the memory lane measures that).
declare -A BROKER_METRICS_PORTS
start_broker() {  # name cpus mock_url io_threads(0: default); output in $TMP/name.out, pid in BROKER_PIDS[name]
  local name=$1 cpus=$2 mock=$3 threads=$4 port=""
  mkdir -p "$TMP/$name"
  local extra=()
  [[ "$threads" != 0 ]] && extra+=(AIPASSPORT_IO_THREADS="$threads")
  [[ "${BROKER_METRICS:-1}" == 1 ]] && { port=$(free_port); extra+=(AIPASSPORT_METRICS_LISTEN="127.0.0.1:$port"); }
  env "${extra[@]}" OPENAI_API_KEY=test-openai-key AIPASSPORT_OPENAI_BASE_URL="$mock" AIPASSPORT_LOG_LEVEL=warn \
    $(pin "$cpus") "$BIN" serve --listen 127.0.0.1:0 --data-dir "$TMP/$name" > "$TMP/$name.out" 2>&1 & PIDS+=($!)
  BROKER_PIDS[$name]=$!
  BROKER_METRICS_PORTS[$name]=$port
}
# How many calls a broker has kept waiting for a lease top-up so far (aipassport_lease_wait_seconds);
# a busy grant's calls should find the next lease taken ahead of them, so a lane that adds many
# has stalled on the store thread. 0 for a broker without metrics or too old to have the series.
lease_waits() {  # broker name
  [[ -n "${BROKER_METRICS_PORTS[$1]}" ]] || { echo 0; return; }
  curl -sf "http://127.0.0.1:${BROKER_METRICS_PORTS[$1]}/metrics" |
    awk '$1 == "aipassport_lease_wait_seconds_count" {n = $2} END {print n + 0}'
}

# nginx proxy_pass with upstream keep-alive, tuned as one would tune it for this (no request cap
# per connection, a keep-alive pool as large as the load): the fair comparison.
# A fifth argument adds directives to the proxied location ("proxy_buffering off;" for streams).
start_nginx() {  # name cpus workers mock_url [directives]; listens on http://127.0.0.1:$NGINX_PORT_<name>, pid in NGINX_PIDS[name]
  local name=$1 cpus=$2 workers=$3 mock=$4 extra=${5:-} port dir=$TMP/$1
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
$( [[ $(id -u) -eq 0 ]] && echo "user root;" )
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  upstream mock { server ${mock#http://}; keepalive 512; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      $extra
    }
  }
}
CONF
  $(pin "$cpus") nginx -c "$dir/nginx.conf" -p "$dir" & PIDS+=($!)
  NGINX_PIDS[$name]=$!
  printf -v "NGINX_PORT_$name" '%s' "$port"
}
wait_for_nginx() {  # URL: answers once nginx and its upstream are up
  for _ in $(seq 50); do curl -sf "$1/__mock/stats" >/dev/null && return; sleep 0.1; done
  echo "nginx at $1 did not come up" >&2; exit 1
}

# A token of a grant with every limit the hot path checks: a budget, a request cap, a rate limit
# and an in-flight limit, all far above what the benchmark uses, so none refuses.
limited_token() {  # broker URL, owner token [provider model (openai gpt-4o-mini)] -> "grant_id token"
  local req grant secret provider=${3:-openai} model=${4:-gpt-4o-mini}
  req=$(curl -sf -X POST "$1/grant-requests" -H 'content-type: application/json' \
    -d '{"appName":"bench","appUrl":"https://bench.example","reason":"benchmark","scope":{"provider":"'"$provider"'","models":["'"$model"'"],"capabilities":["chat"],"maxBudgetCents":100000000,"maxRequests":100000000000,"rateLimit":100000000000,"maxConcurrent":5000}}')
  grant=$(echo "$req" | json .grant.id)
  secret=$(echo "$req" | json .requestSecret)
  curl -sf -X POST "$1/grants/$grant/approve" -H "authorization: Bearer $2" -d '{"expiresInSeconds":86400}' >/dev/null
  echo "$grant $(curl -sf -X POST "$1/tokens" -d "{\"grantId\":\"$grant\",\"requestSecret\":\"$secret\"}" | json .token)"
}
owner_token() {  # broker output file -> owner token (printed on a terminal, else in the file it names)
  local file
  file=$(grep -o 'owner token (shown once) is in [^ ]*' "$1" | head -1 | sed 's/.* is in //')
  if [[ -n "$file" ]]; then cat "$file"; else grep -o 'apo_[^ ]*' "$1" | head -1; fi
}

# wrk prints latency with units; report milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }  # numbers, one a line -> their median
# LOAD_CPUS (optional) pins wrk; WRK_THREADS (default 2) caps its threads.
run_lane() {  # name url credential connections -> "rps p50 p99"
  local out threads=${WRK_THREADS:-2}
  ((threads > $4)) && threads=$4
  out=$(BENCH_CREDENTIAL=$3 BENCH_STREAM=$STREAM $(pin "${LOAD_CPUS:-}") wrk -t"$threads" -c"$4" -d"${SECONDS_PER_LANE}s" --latency -s "$HERE/post.lua" "$2")
  if echo "$out" | grep -q "Non-2xx"; then echo "lane $1 got errors:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  echo "$rps $p50 $p99"
}

cpu_ns() {  # pid -> nanoseconds on a CPU so far, of every thread of the process and of its children
  local total=0 p t ns rest
  for p in "$1" $(pgrep -P "$1"); do
    for t in /proc/"$p"/task/*/schedstat; do read -r ns rest < "$t" 2>/dev/null && total=$((total + ns)); done
  done
  echo "$total"
}
rss_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }  # pid VmRSS|VmHWM -> kB
