#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL 15 cluster, then stops and deletes the cluster
# (also when the command fails or is interrupted).
#   scripts/with-postgres.sh ctest --test-dir build
# The command sees AIPASSPORT_TEST_DATABASE_URL (a libpq URI; the cluster listens only on a Unix
# socket in its own temporary directory, no TCP port) and AIPASSPORT_REQUIRE_POSTGRES=1 (tests that
# need the database fail rather than skip). As root (CI), the cluster runs as the `postgres` user:
# PostgreSQL refuses to run as root.
set -euo pipefail

# Inside another run of this script (make test wraps make unit): use its cluster.
[[ -n "${AIPASSPORT_TEST_DATABASE_URL:-}" ]] && exec "$@"

bin=/usr/lib/postgresql/15/bin
[[ -x "$bin/initdb" ]] || { echo "with-postgres: PostgreSQL 15 is not installed (scripts/install-deps.sh)" >&2; exit 1; }

dir=$(mktemp -d /tmp/aipassport-pg.XXXXXX)
as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres:postgres "$dir"
  as_owner=(runuser -u postgres --)
fi

stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT INT TERM

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses='' -k $dir -c max_connections=200 -c fsync=off -c full_page_writes=off" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }

export AIPASSPORT_TEST_DATABASE_URL="postgresql:///postgres?host=$dir&user=postgres"
export AIPASSPORT_REQUIRE_POSTGRES=1
"$@"
