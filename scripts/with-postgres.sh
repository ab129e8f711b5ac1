#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL 15 cluster (scripts/pg-cluster.sh), then stops and
# deletes the cluster (also when the command fails or is interrupted).
#   scripts/with-postgres.sh ctest --test-dir build
# The command sees AIPASSPORT_TEST_DATABASE_URL (a libpq URI; the cluster listens only on a Unix
# socket in its own temporary directory, no TCP port) and AIPASSPORT_REQUIRE_POSTGRES=1 (tests that
# need the database fail rather than skip).
set -euo pipefail

# Inside another run of this script (make test wraps make unit): use its cluster.
[[ -n "${AIPASSPORT_TEST_DATABASE_URL:-}" ]] && exec "$@"

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/aipassport-pg.XXXXXX)
trap '"$here/pg-cluster.sh" remove "$dir"' EXIT INT TERM
AIPASSPORT_TEST_DATABASE_URL=$("$here/pg-cluster.sh" init "$dir")
export AIPASSPORT_TEST_DATABASE_URL
export AIPASSPORT_REQUIRE_POSTGRES=1
"$@"
