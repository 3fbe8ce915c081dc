#!/usr/bin/env bash
# Starts a private PostgreSQL for the cluster tests, bench and example, and prints its URL on stdout.
#
# Installs Debian's `postgresql` when it is missing and we are root; then runs a cluster of our own
# (data, socket and log under $EFFECT_PARALLEL_PG_DIR, default /tmp/effect-parallel-pg) on
# 127.0.0.1:$EFFECT_PARALLEL_PG_PORT (default 54329) with pg_ctl, so it needs no systemd and never
# touches the machine's own clusters. Creates the database and waits until it answers. Idempotent:
# a second run finds the server up and only prints the URL. `--stop` stops it.
#
#   export EFFECT_PARALLEL_PG_URL="$(scripts/setup-postgres.sh)"
#
# Passwords over TCP (scram), trust on the private socket: effect/cluster's sql-pg client connects
# over 127.0.0.1, where peer authentication cannot work. Exits 1 (with the reason on stderr) when no
# PostgreSQL can be had; the tests then say so and skip.
set -euo pipefail
dir="${EFFECT_PARALLEL_PG_DIR:-/tmp/effect-parallel-pg}"
port="${EFFECT_PARALLEL_PG_PORT:-54329}"
db="effect_parallel"
user="effect_parallel"
password="effect_parallel"
url="postgres://$user:$password@127.0.0.1:$port/$db"
say() { echo "setup-postgres: $*" >&2; }

find_bin() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$found" ] && [ -x "$found/pg_ctl" ]; then echo "$found"; return 0; fi
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

bin="$(find_bin || true)"
if [ "${1:-}" = "--stop" ]; then
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    run_as=(); [ "$(id -u)" = "0" ] && run_as=(runuser -u postgres --)
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
  fi
  exit 0
fi

if [ -z "$bin" ]; then
  if [ "$(id -u)" != "0" ]; then
    say "no PostgreSQL installed and not root: the cluster tests will be skipped (apt-get install -y postgresql)"
    exit 1
  fi
  say "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >/dev/null
  bin="$(find_bin)" || { say "postgresql installed but no pg_ctl found"; exit 1; }
fi

# initdb and the server refuse to run as root: run them as the package's `postgres` user then.
run_as=()
if [ "$(id -u)" = "0" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  run_as=(runuser -u postgres --)
fi
mkdir -p "$dir"
[ "$(id -u)" = "0" ] && chown postgres: "$dir"
chmod 700 "$dir"

if [ ! -f "$dir/data/PG_VERSION" ]; then
  say "initialising $dir/data"
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = "0" ] && chown postgres: "$dir/pwfile"
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U "$user" --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { say "initdb failed: see $dir/initdb.log"; exit 1; }
  rm -f "$dir/pwfile"
fi

if ! "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  say "starting on 127.0.0.1:$port"
  # Enough connections for a few runners, each with its pool, plus the tests' clients.
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -h 127.0.0.1 -k $dir -c max_connections=200 -c fsync=off" start >&2 \
    || { say "the server did not start: see $dir/server.log"; exit 1; }
fi

for _ in $(seq 1 60); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { say "the server does not answer: see $dir/server.log"; exit 1; }

psql_local=("${run_as[@]}" "$bin/psql" -h "$dir" -p "$port" -U "$user" -d postgres -qtA -v ON_ERROR_STOP=1)
if [ "$("${psql_local[@]}" -c "select 1 from pg_database where datname = '$db'")" != "1" ]; then
  "${psql_local[@]}" -c "create database $db" >&2
fi
echo "$url"
