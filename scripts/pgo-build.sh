#!/usr/bin/env bash
# A release build of the broker optimised by profile (issue 13; what `make package` ships): builds
# it counting where its time goes (-DAIPASSPORT_PGO=generate), trains it on the benchmarks' calls
# (bench/train.sh), then builds it again in the same directory from what it counted
# (-DAIPASSPORT_PGO=use), optimised across source files at link time too (-DAIPASSPORT_LTO=ON).
# Neither stage goes through ccache, so it takes two full builds of the broker (12 to 20 minutes
# on two cores). Tests and micro-benchmarks are not built there.
# Usage: scripts/pgo-build.sh [BUILD_DIR (build-pgo)]   JOBS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build-pgo}
JOBS=${JOBS:-2}
PROFILE=$(realpath -m "$DIR")/pgo-profile
for tool in node curl; do  # the training's, checked before a build's worth of waiting
  command -v $tool >/dev/null || { echo "pgo: the training needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
configure() {  # stage, link-time optimisation (ON or OFF)
  cmake -S . -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIPASSPORT_BUILD_TESTS=OFF -DAIPASSPORT_BUILD_BENCH=OFF \
    -DAIPASSPORT_PGO="$1" -DAIPASSPORT_PGO_DIR="$PROFILE" -DAIPASSPORT_LTO="$2" > /dev/null
}
echo "pgo: 1/3 building the counting broker in $DIR"
configure generate OFF
cmake --build "$DIR" -j "$JOBS" --target aipassport
echo "pgo: 2/3 training it (bench/train.sh)"
rm -rf "$PROFILE"  # counts would add up with an earlier training's
bench/train.sh "$DIR/src/aipassport"
count=$( (find "$PROFILE" -name '*.gcda' 2>/dev/null || true) | wc -l)
((count > 0)) || { echo "pgo: the training wrote no profile in $PROFILE" >&2; exit 1; }
echo "pgo: 3/3 building the optimised broker from $count profiles"
configure use ON
cmake --build "$DIR" -j "$JOBS"
"$DIR/src/aipassport" --version > /dev/null || { echo "pgo: the optimised broker does not run" >&2; exit 1; }
echo "pgo: $DIR/src/aipassport"
