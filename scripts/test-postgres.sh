#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests (as the postgres user when run as root) and
# prints its URL. Usage: scripts/test-postgres.sh start DIR PORT | replica DIR PORT PRIMARY_PORT |
# restart DIR PORT (a stopped replica) | stop DIR
# `replica` makes a streaming replica of the server on PRIMARY_PORT (pg_basebackup -R) and starts it.
# fsync is off (test data is disposable) unless PG_DURABLE=1, which the benchmarks use.
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  start)
    port=$3
    fsync=off; [ -n "${PG_DURABLE:-}" ] && fsync=on
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod o+x "$(dirname "$dir")"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=$fsync" start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  replica)
    port=$3 primary_port=$4
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod o+x "$(dirname "$dir")"
    as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/data" -R -X stream >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  restart)
    port=$3
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
esac
