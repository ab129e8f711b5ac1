#!/usr/bin/env bash
# Instructions per metered call, counted by callgrind, for one or more broker binaries: a measure
# of the broker's own work (user space, every thread) that does not move with the machine's load,
# for comparing two builds where wall-clock lanes move by a fifth from run to run. It counts
# instructions, not time: system calls, cache misses and lock waits are not in it, and OpenSSL's
# SHA-256 runs its plain code under valgrind (no SHA extensions), so hashing counts more than it costs.
# Each binary serves CALLS metered calls (on BENCH_PATH, a grant with every limit,
# 16 in flight, io_threads = 1) after a warm-up of 500, counted from the first to the last.
# Runs of one binary differ by a percent or two (the store's periodic work falls in the window or
# not): compare builds taking turns (A B A B).
# Usage: bench/instructions.sh BINARY...
#   INSTRUCTIONS_CALLS (2000), INSTRUCTIONS_OUT (a directory to keep each callgrind file in, for
#   bench/callgrind_top.py), BENCH_PATH (the path called: /openai/v1/chat/completions, or the
#   reference's /proxy/chat with the same body), INSTRUCTIONS_CACHE_SIM=1 (callgrind's cache model
#   too: its misses of the 32 KB instruction and data caches per call, a simulation, not this
#   machine's CPU), INSTRUCTIONS_PROVIDER (openai, the default; anthropic or google: that
#   provider's native path, as bench/calls.mjs calls it), INSTRUCTIONS_STREAM_EVENTS (0, the
#   default: whole answers; N: each call a stream of N events, one at a time, and the count per
#   relayed event printed too). Needs valgrind (scripts/install-deps.sh bench).
set -euo pipefail
CALLS=${INSTRUCTIONS_CALLS:-2000}
BROKER_PATH=${BENCH_PATH:-/openai/v1/chat/completions}
[[ "$BROKER_PATH" == /openai/v1/chat/completions || "$BROKER_PATH" == /proxy/chat ]] ||
  { echo "BENCH_PATH must be /openai/v1/chat/completions or /proxy/chat" >&2; exit 2; }
[[ "$CALLS" =~ ^[1-9][0-9]*$ ]] || { echo "INSTRUCTIONS_CALLS must be a positive whole number" >&2; exit 2; }
EVENTS=${INSTRUCTIONS_STREAM_EVENTS:-0}
[[ "$EVENTS" =~ ^[0-9]+$ ]] || { echo "INSTRUCTIONS_STREAM_EVENTS must be a whole number" >&2; exit 2; }
PROVIDER=${INSTRUCTIONS_PROVIDER:-openai}
[[ -n "${BENCH_PATH:-}" && "$PROVIDER" != openai ]] &&
  { echo "BENCH_PATH chooses among OpenAI's paths; INSTRUCTIONS_PROVIDER=$PROVIDER has its own" >&2; exit 2; }
case "$PROVIDER" in  # the path called, the model granted
  openai) MODEL=gpt-4o-mini ;;
  anthropic) BROKER_PATH=/anthropic/v1/messages MODEL=claude-3-5-haiku-latest ;;
  google)
    MODEL=gemini-2.0-flash
    BROKER_PATH=/gemini/v1beta/models/$MODEL:generateContent
    ((EVENTS > 0)) && BROKER_PATH=/gemini/v1beta/models/$MODEL:streamGenerateContent?alt=sse
    ;;
  *) echo "INSTRUCTIONS_PROVIDER is openai, anthropic or google" >&2; exit 2 ;;
esac
# Streams one at a time, so that each call's events come as the provider sends them.
IN_FLIGHT=16 STREAM=()
((EVENTS > 0)) && IN_FLIGHT=1 STREAM=(stream)
CACHE_SIM=()
case "${INSTRUCTIONS_CACHE_SIM:-0}" in
  0) ;;
  1) CACHE_SIM=(--cache-sim=yes) ;;
  *) echo "INSTRUCTIONS_CACHE_SIM must be 0 or 1" >&2; exit 2 ;;
esac
(($# > 0)) || { echo "usage: bench/instructions.sh BINARY..." >&2; exit 2; }
for tool in valgrind callgrind_control node curl; do
  command -v $tool >/dev/null || { echo "instructions needs $tool (scripts/install-deps.sh bench)" >&2; exit 1; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
bench_scratch instructions
declare -A MOCK_PIDS
BIN=$(realpath "$1")
MOCK_FLAGS=()
((EVENTS > 0)) && MOCK_FLAGS=(--stream-chunks "$EVENTS")
start_mock mock "" "${MOCK_FLAGS[@]}"
MOCK=$(wait_for_url "$TMP/mock.out")

n=0
for binary in "$@"; do
  n=$((n + 1))
  name=$n-$(basename "$binary")
  mkdir -p "$TMP/$name"
  AIPASSPORT_IO_THREADS=1 OPENAI_API_KEY=test-openai-key ANTHROPIC_API_KEY=test-anthropic-key \
    GOOGLE_API_KEY=test-google-key AIPASSPORT_OPENAI_BASE_URL="$MOCK" AIPASSPORT_ANTHROPIC_BASE_URL="$MOCK" \
    AIPASSPORT_GOOGLE_BASE_URL="$MOCK" AIPASSPORT_LOG_LEVEL=warn \
    valgrind --tool=callgrind "${CACHE_SIM[@]}" --callgrind-out-file="$TMP/$name.out.cg" "$(realpath "$binary")" serve \
    --listen 127.0.0.1:0 --data-dir "$TMP/$name" > "$TMP/$name.out" 2>&1 & PIDS+=($!)
  pid=$!
  url=$(wait_for_url "$TMP/$name.out" 600)  # valgrind takes several seconds to start it
  read -r _ token <<< "$(limited_token "$url" "$(owner_token "$TMP/$name.out")" "$PROVIDER" "$MODEL")"
  node "$HERE/calls.mjs" "$url$BROKER_PATH" "$token" 500 "$IN_FLIGHT" "$PROVIDER" "${STREAM[@]}"
  callgrind_control --zero "$pid" > /dev/null
  node "$HERE/calls.mjs" "$url$BROKER_PATH" "$token" "$CALLS" "$IN_FLIGHT" "$PROVIDER" "${STREAM[@]}"
  callgrind_control --dump "$pid" > /dev/null
  for _ in $(seq 50); do [[ -s "$TMP/$name.out.cg.1" ]] && grep -q '^totals:' "$TMP/$name.out.cg.1" && break; sleep 0.1; done
  total=$(awk '/^totals:/ {print $2}' "$TMP/$name.out.cg.1")
  echo "$name: $((total / CALLS)) instructions per call ($binary)"
  ((EVENTS > 0)) && echo "$name: $((total / CALLS / EVENTS)) instructions per relayed event (each call's own work spread over its $EVENTS events)"
  if ((${#CACHE_SIM[@]})); then  # totals: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    awk -v calls="$CALLS" -v name="$name" '/^totals:/ {printf "%s: per call, %d instruction cache misses, %d data cache misses, %d last-level misses\n", name, $5 / calls, ($6 + $7) / calls, ($8 + $9 + $10) / calls}' "$TMP/$name.out.cg.1"
  fi
  [[ -n "${INSTRUCTIONS_OUT:-}" ]] && mkdir -p "$INSTRUCTIONS_OUT" && cp "$TMP/$name.out.cg.1" "$INSTRUCTIONS_OUT/$name.callgrind"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
