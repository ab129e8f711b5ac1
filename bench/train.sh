#!/usr/bin/env bash
# The training run of a profile-guided build (scripts/pgo-build.sh): a broker built with
# -DAIPASSPORT_PGO=generate serves what the benchmarks measure, against the mock upstream, then
# stops as a signal stops it, which writes its profile. The calls: whole chat answers on the
# native OpenAI path and on the reference's /proxy/chat (32 in flight, a grant with every limit),
# then streamed ones one at a time.
# Usage: bench/train.sh BINARY   TRAIN_CALLS (20000 whole answers on the native path; half as many
#   on /proxy/chat, a tenth as many streams)
set -euo pipefail
CALLS=${TRAIN_CALLS:-20000}
[[ "$CALLS" =~ ^[1-9][0-9]*$ ]] || { echo "TRAIN_CALLS must be a positive whole number" >&2; exit 2; }
(($# == 1)) || { echo "usage: bench/train.sh BINARY" >&2; exit 2; }
for tool in node curl; do command -v $tool >/dev/null || { echo "training needs $tool" >&2; exit 1; }; done
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
bench_scratch train
declare -A BROKER_PIDS MOCK_PIDS
BIN=$(realpath "$1")
start_mock mock ""
MOCK=$(wait_for_url "$TMP/mock.out")
start_broker broker "" "$MOCK" 0
BROKER=$(wait_for_url "$TMP/broker.out")
read -r _ TOKEN <<< "$(limited_token "$BROKER" "$(owner_token "$TMP/broker.out")")"
echo "training: $CALLS calls on /openai/v1/chat/completions"
node "$HERE/calls.mjs" "$BROKER/openai/v1/chat/completions" "$TOKEN" "$CALLS" 32
echo "training: $((CALLS / 2)) calls on /proxy/chat"
node "$HERE/calls.mjs" "$BROKER/proxy/chat" "$TOKEN" $((CALLS / 2)) 32
echo "training: $((CALLS / 10)) streams"
node "$HERE/streams.mjs" sequential "$BROKER/openai/v1/chat/completions" "$TOKEN" $((CALLS / 10)) > /dev/null
pid=${BROKER_PIDS[broker]}
kill -TERM "$pid"
wait "$pid" || { echo "the trained broker did not stop cleanly:" >&2; tail -5 "$TMP/broker.out" >&2; exit 1; }
