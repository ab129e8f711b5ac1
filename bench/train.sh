#!/usr/bin/env bash
# The training run of a profile-guided build (scripts/pgo-build.sh): a broker built with
# -DAIPASSPORT_PGO=generate serves what the benchmarks measure, against the mock upstream, then
# stops as a signal stops it, which writes its profile. The calls: whole chat answers on the
# native OpenAI path, on the reference's /proxy/chat, on Anthropic's Messages and on Gemini's
# generateContent (32 in flight, a grant with every limit for each provider), then streamed ones:
# OpenAI's one at a time, Anthropic's and Gemini's 8 at a time.
# Usage: bench/train.sh BINARY   TRAIN_CALLS (20000 whole answers on the native OpenAI path; half as
#   many on /proxy/chat, a quarter as many on each other provider's, a tenth as many OpenAI streams
#   and a twentieth as many of each other provider's)
set -euo pipefail
CALLS=${TRAIN_CALLS:-20000}
[[ "$CALLS" =~ ^[1-9][0-9]*$ ]] && ((CALLS >= 20)) || { echo "TRAIN_CALLS must be a whole number of at least 20" >&2; exit 2; }
(($# == 1)) || { echo "usage: bench/train.sh BINARY" >&2; exit 2; }
for tool in node curl; do command -v $tool >/dev/null || { echo "training needs $tool" >&2; exit 1; }; done
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
bench_scratch train
declare -A BROKER_PIDS MOCK_PIDS
BIN=$(realpath "$1")
# The emulation is the same binary: its counts go elsewhere, not into the broker's profile.
GCOV_PREFIX="$TMP/emulation-profile" start_mock mock ""
MOCK=$(wait_for_url "$TMP/mock.out")
# The other providers' keys and URLs too (start_broker gives OpenAI's): their paths are trained.
export ANTHROPIC_API_KEY=test-anthropic-key GOOGLE_API_KEY=test-google-key
export AIPASSPORT_ANTHROPIC_BASE_URL=$MOCK AIPASSPORT_GOOGLE_BASE_URL=$MOCK
start_broker broker "" "$MOCK" 0
BROKER=$(wait_for_url "$TMP/broker.out")
OWNER=$(owner_token "$TMP/broker.out")
read -r _ TOKEN <<< "$(limited_token "$BROKER" "$OWNER")"
read -r _ CLAUDE <<< "$(limited_token "$BROKER" "$OWNER" anthropic claude-3-5-haiku-latest)"
read -r _ GEMINI <<< "$(limited_token "$BROKER" "$OWNER" google gemini-2.0-flash)"
echo "training: $CALLS calls on /openai/v1/chat/completions"
node "$HERE/calls.mjs" "$BROKER/openai/v1/chat/completions" "$TOKEN" "$CALLS" 32
echo "training: $((CALLS / 2)) calls on /proxy/chat"
node "$HERE/calls.mjs" "$BROKER/proxy/chat" "$TOKEN" $((CALLS / 2)) 32
echo "training: $((CALLS / 4)) calls each on /anthropic/v1/messages and Gemini's generateContent"
node "$HERE/calls.mjs" "$BROKER/anthropic/v1/messages" "$CLAUDE" $((CALLS / 4)) 32 anthropic
node "$HERE/calls.mjs" "$BROKER/gemini/v1beta/models/gemini-2.0-flash:generateContent" "$GEMINI" $((CALLS / 4)) 32 google
echo "training: $((CALLS / 10)) streams"
node "$HERE/calls.mjs" "$BROKER/openai/v1/chat/completions" "$TOKEN" $((CALLS / 10)) 1 openai stream
echo "training: $((CALLS / 20)) streams each on /anthropic/v1/messages and Gemini's streamGenerateContent"
node "$HERE/calls.mjs" "$BROKER/anthropic/v1/messages" "$CLAUDE" $((CALLS / 20)) 8 anthropic stream
node "$HERE/calls.mjs" "$BROKER/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse" "$GEMINI" \
  $((CALLS / 20)) 8 google stream
pid=${BROKER_PIDS[broker]}
kill -TERM "$pid"
wait "$pid" || { echo "the trained broker did not stop cleanly:" >&2; tail -5 "$TMP/broker.out" >&2; exit 1; }
kept=()  # reaped: the cleanup must not signal whatever takes its number next
for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
PIDS=("${kept[@]}")
