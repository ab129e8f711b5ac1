# Shared by the benchmark scripts (sourced): free ports, broker URLs, wrk lanes.

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for_url() {  # file -> URL printed as "listening on URL"
  for _ in $(seq 100); do
    url=$(grep -o 'listening on http://[^ ]*' "$1" 2>/dev/null | head -1 | cut -d' ' -f3) && [[ -n "$url" ]] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no URL in $1:" >&2; cat "$1" >&2; exit 1
}

# wrk prints latency with units; report milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
run_lane() {  # name url credential connections -> "rps p50 p99"
  local out
  out=$(BENCH_CREDENTIAL=$3 BENCH_STREAM=$STREAM wrk -t2 -c"$4" -d"${SECONDS_PER_LANE}s" --latency -s "$HERE/post.lua" "$2")
  if echo "$out" | grep -q "Non-2xx"; then echo "lane $1 got errors:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  echo "$rps $p50 $p99"
}
