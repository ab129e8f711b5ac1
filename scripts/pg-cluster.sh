#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster in a directory of its own, listening only on a Unix socket there.
#   scripts/pg-cluster.sh init DIR     create it (DIR missing or empty) and start it; prints its URL
#   scripts/pg-cluster.sh start DIR    start it again
#   scripts/pg-cluster.sh stop DIR     stop it (the data stays)
#   scripts/pg-cluster.sh remove DIR   stop it and delete DIR
# As root (CI), the cluster runs as the `postgres` user: PostgreSQL refuses to run as root.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
[[ -x "$bin/initdb" ]] || { echo "pg-cluster: PostgreSQL 15 is not installed (scripts/install-deps.sh)" >&2; exit 1; }
action=${1:?usage: pg-cluster.sh init|start|stop|remove DIR}
dir=${2:?usage: pg-cluster.sh init|start|stop|remove DIR}
as_owner=()
[[ $(id -u) -eq 0 ]] && as_owner=(runuser -u postgres --)

start() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $dir -c unix_socket_permissions=0700 -c max_connections=200 -c fsync=off -c full_page_writes=off" \
    start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
}

case "$action" in
  init)
    # Trust authentication is safe only because nobody else can reach the socket: mode 0700.
    mkdir -p -m 700 "$dir"
    chmod 700 "$dir"
    [[ -z "$(ls -A "$dir")" ]] || { echo "pg-cluster: $dir is not empty" >&2; exit 1; }
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    start
    echo "postgresql:///postgres?host=$dir&user=postgres"
    ;;
  start) start ;;
  stop) "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null ;;
  remove)
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "pg-cluster: unknown action $action" >&2; exit 2 ;;
esac
