#!/usr/bin/env bash
# Installs the Debian packages the build, the tests or the benchmark need, if they are missing.
#   scripts/install-deps.sh          build and test dependencies
#   scripts/install-deps.sh bench    also wrk and nginx, for bench/run.sh, perf, for bench/profile.sh, and
#                                    valgrind, for bench/instructions.sh
#   scripts/install-deps.sh fuzz     also clang-16 and its libFuzzer runtime, for the fuzz targets
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config ca-certificates openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libsodium-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libmimalloc-dev
  libidn2-dev libpsl-dev publicsuffix
  libpq-dev postgresql-15
  libgtest-dev libgmock-dev libbenchmark-dev
  sqlite3 jq curl dpkg-dev file
  nodejs npm
  chromium
  faketime util-linux
)
if [[ "${1:-}" == "bench" ]]; then
  packages+=(wrk nginx-light linux-perf valgrind)
fi
if [[ "${1:-}" == "fuzz" ]]; then
  packages+=(clang-16 libclang-rt-16-dev)
fi

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from elsewhere on the machine: a working command is enough.
  if [[ "$p" == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ "$p" == npm ]] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing Debian packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
