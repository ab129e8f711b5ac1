#!/usr/bin/env bash
# Runs each fuzz target for SECONDS seconds, one after the other, and prints what each did.
#   fuzz/run.sh BUILD_DIR SECONDS [target ...]      (no targets: all of them)
# Each target starts from its seeds (fuzz/corpus/<target>) and what earlier runs found
# (BUILD_DIR/fuzz-corpus/<target>, which it grows). A crash, a leak, a sanitizer report or a broken
# promise stops the run: the input is left in BUILD_DIR/fuzz-artifacts/, the exit status is 1.
# Replay one with `BUILD_DIR/fuzz/fuzz_<target> <file>`.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [target ...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [target ...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for seeds in "$here"/corpus/*/; do targets+=("$(basename "$seeds")"); done
fi

mkdir -p "$build/fuzz-artifacts"
failed=()
printf '%-22s %8s %10s %8s %8s\n' target corpus exec/s cov ft
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  log="$build/fuzz-artifacts/$t.log"
  mkdir -p "$work"
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$here/corpus/$t" > "$log" 2>&1; then
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
