#!/usr/bin/env bash
# Measures, in one run on this machine, the same chat call three ways:
#   direct  wrk -> mock upstream
#   nginx   wrk -> nginx proxy_pass (keep-alive upstream) -> mock upstream
#   broker  wrk -> aipassport (token check, grant check, request count, key injection) -> mock upstream
# for three workloads: the reference's /proxy/chat, the native /openai/v1/chat/completions, and the
# same call streamed (SSE, relayed event by event, usage read on the way); and prints requests/s,
# p50 and p99 for each, and the broker/nginx ratios.
# Usage: bench/run.sh [path/to/aipassport]   (BENCH_SECONDS, BENCH_CONNECTIONS to change the load)
set -euo pipefail
BIN=${1:-build/src/aipassport}
SECONDS_PER_LANE=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-"16 64"}
WORKLOADS=${BENCH_WORKLOADS:-"reference native stream"}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/aipassport-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

source "$HERE/lib.sh"
for tool in wrk nginx curl node; do command -v $tool >/dev/null || { echo "bench needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }; done


"$BIN" mock-upstream --listen 127.0.0.1:0 > "$TMP/mock.out" 2>&1 & PIDS+=($!)
MOCK=$(wait_for_url "$TMP/mock.out")

NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat > "$TMP/nginx/nginx.conf" <<CONF
$( [[ $(id -u) -eq 0 ]] && echo "user root;" )
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  upstream mock { server ${MOCK#http://}; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" & PIDS+=($!)
NGINX="http://127.0.0.1:$NGINX_PORT"

OPENAI_API_KEY=test-openai-key AIPASSPORT_OPENAI_BASE_URL=$MOCK AIPASSPORT_LOG_LEVEL=warn \
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" > "$TMP/broker.out" 2>&1 & PIDS+=($!)
BROKER=$(wait_for_url "$TMP/broker.out")
OWNER=$(grep -o 'apo_[^ ]*' "$TMP/broker.out")
for _ in $(seq 50); do curl -sf "$NGINX/__mock/stats" >/dev/null && break; sleep 0.1; done

json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s)$1))"; }
REQ=$(curl -sf -X POST "$BROKER/grant-requests" -H 'content-type: application/json' \
  -d '{"appName":"bench","appUrl":"https://bench.example","reason":"benchmark","scope":{"provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],"maxBudgetCents":100000000,"maxConcurrent":1000}}')
GRANT=$(echo "$REQ" | json .grant.id)
SECRET=$(echo "$REQ" | json .requestSecret)
curl -sf -X POST "$BROKER/grants/$GRANT/approve" -H "authorization: Bearer $OWNER" -d '{"expiresInSeconds":86400}' >/dev/null
TOKEN=$(curl -sf -X POST "$BROKER/tokens" -d "{\"grantId\":\"$GRANT\",\"requestSecret\":\"$SECRET\"}" | json .token)


echo "aipassport bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, ${SECONDS_PER_LANE}s per lane, wrk -t2"
printf '%-9s %-6s %-7s %10s %9s %9s\n' workload conns lane "req/s" "p50 ms" "p99 ms"
for w in $WORKLOADS; do
  STREAM=0
  BROKER_PATH=/openai/v1/chat/completions
  case $w in
    reference) BROKER_PATH=/proxy/chat ;;
    stream) STREAM=1 ;;
  esac
  for c in $CONNECTIONS; do
    read -r d_rps d_p50 d_p99 < <(run_lane direct "$MOCK/v1/chat/completions" test-openai-key "$c")
    read -r n_rps n_p50 n_p99 < <(run_lane nginx "$NGINX/v1/chat/completions" test-openai-key "$c")
    read -r b_rps b_p50 b_p99 < <(run_lane broker "$BROKER$BROKER_PATH" "$TOKEN" "$c")
    printf '%-9s %-6s %-7s %10s %9s %9s\n' "$w" "$c" direct "$d_rps" "$d_p50" "$d_p99"
    printf '%-9s %-6s %-7s %10s %9s %9s\n' "$w" "$c" nginx "$n_rps" "$n_p50" "$n_p99"
    printf '%-9s %-6s %-7s %10s %9s %9s\n' "$w" "$c" broker "$b_rps" "$b_p50" "$b_p99"
    awk -v br="$b_rps" -v nr="$n_rps" -v b50="$b_p50" -v n50="$n_p50" -v b99="$b_p99" -v n99="$n_p99" -v c="$c" -v w="$w" \
      'BEGIN {printf "%-9s %-6s broker/nginx: throughput x%.2f, p50 x%.2f, p99 x%.2f\n", w, c, br/nr, b50/n50, b99/n99}'
  done
done
USED=$(curl -sf "$BROKER/grants/$GRANT" -H "authorization: Bearer $OWNER" | json .usageCount)
echo "broker counted $USED proxied calls"

MICRO=$(dirname "$BIN")/../bench/ap_micro_bench
if [[ -x "$MICRO" ]]; then
  echo
  "$MICRO" --benchmark_min_time=0.2 2>/dev/null | grep -E '^(BM_|Benchmark|-)'
fi
