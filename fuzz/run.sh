#!/usr/bin/env bash
# Runs each fuzz target for SECONDS seconds, FUZZ_JOBS of them at a time (1 unless set), and prints
# what each did, in the order given.
#   fuzz/run.sh BUILD_DIR SECONDS [target ...]      (no targets: all of them)
# Each target starts from its seeds (fuzz/corpus/<target>) and what earlier runs found
# (BUILD_DIR/fuzz-corpus/<target>, which it grows). A crash, a leak, a sanitizer report or a broken
# promise stops the run: the input is left in BUILD_DIR/fuzz-artifacts/, the exit status is 1.
# Replay one with `BUILD_DIR/fuzz/fuzz_<target> <file>`.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [target ...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [target ...]}
shift 2
jobs=${FUZZ_JOBS:-1}
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_JOBS must be a positive whole number" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for seeds in "$here"/corpus/*/; do targets+=("$(basename "$seeds")"); done
fi

mkdir -p "$build/fuzz-artifacts"

# One target; its outcome in $build/fuzz-artifacts/<target>.outcome: "ok" or "failed".
fuzz_one() {
  local t=$1 work="$build/fuzz-corpus/$1" log="$build/fuzz-artifacts/$1.log"
  mkdir -p "$work"
  echo "fuzzing $t for $seconds s" >&2
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$here/corpus/$t" > "$log" 2>&1; then
    echo ok > "$build/fuzz-artifacts/$t.outcome"
  else
    echo failed > "$build/fuzz-artifacts/$t.outcome"
  fi
}

running=0
for t in "${targets[@]}"; do
  rm -f "$build/fuzz-artifacts/$t.outcome"
  fuzz_one "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=()
printf '%-22s %8s %10s %8s %8s\n' target corpus exec/s cov ft
for t in "${targets[@]}"; do
  log="$build/fuzz-artifacts/$t.log"
  if [[ "$(cat "$build/fuzz-artifacts/$t.outcome" 2>/dev/null)" != ok ]]; then
    failed+=("$t")
    echo "$t: FAILED, see $log" >&2
    grep -m 20 -E 'ERROR|SUMMARY|broken promise|runtime error|Test unit written' "$log" >&2 || tail -n 20 "$log" >&2
    continue
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<< "$done_line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<< "$done_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]+).*/\1/p' <<< "$done_line")
  eps=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<< "$done_line")
  printf '%-22s %8s %10s %8s %8s\n' "$t" "$corp" "$eps" "$cov" "$ft"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
