#!/usr/bin/env bash
# Starts three throwaway PgBouncer instances on 127.0.0.1 in front of the test PostgreSQL, one in transaction mode
# and one in session mode (both ignoring the timeouts as startup parameters, the silent trap), and a "strict" one in
# transaction mode that refuses them as PgBouncer does by default, on free ports, with their config, logs and pid files in a new temporary directory.
# Prints `export …` lines for the *.pgbouncer.test.ts suites; use it as
#   eval "$(test/pgbouncer/start.sh)"   …   test/pgbouncer/stop.sh "$PGBOUNCER_DIR"
# Installs PgBouncer from the Debian package when it is missing and we are root (CI). PgBouncer refuses to run as
# root, so as root it is started as the `postgres` OS user.
# Environment: PG_HOST (127.0.0.1), PG_PORT (5432), PG_DATABASE (test), PG_USER (postgres): the server behind it.
set -euo pipefail
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_DATABASE="${PG_DATABASE:-test}"
PG_USER="${PG_USER:-postgres}"

bin="$(command -v pgbouncer || true)"
[ -z "$bin" ] && [ -x /usr/sbin/pgbouncer ] && bin=/usr/sbin/pgbouncer
if [ -z "$bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "PgBouncer is not installed; installing the Debian package" >&2
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >&2
    # The package's own service is not ours: these tests start their own instances.
    (service pgbouncer stop >/dev/null 2>&1 || true)
    bin=/usr/sbin/pgbouncer
  else
    echo "PgBouncer is not installed (apt-get install pgbouncer, or brew install pgbouncer)" >&2
    exit 1
  fi
fi

dir="$(mktemp -d -t pg-bulkhead-pgbouncer.XXXXXX)"
chmod 755 "$dir"
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Trust auth, like the test server: the user only has to be listed.
printf '"%s" ""\n' "$PG_USER" >"$dir/userlist.txt"
# A per-service role (the ALTER ROLE … SET recipe of the README); the test suite creates it on the server.
printf '"%s" ""\n' "bulkhead_i15_auth" >>"$dir/userlist.txt"

write_ini() { # name mode port ignore-timeouts(yes|no)
  local ignore="extra_float_digits"
  [ "$4" = yes ] && ignore="extra_float_digits, statement_timeout, idle_in_transaction_session_timeout"
  cat >"$dir/$1.ini" <<INI
[databases]
; One shared alias, and one alias per service so each service has its own PgBouncer pool (see the README,
; "Behind PgBouncer"). pool_size is small on purpose: the isolation test floods llm's pool.
${PG_DATABASE} = host=${PG_HOST} port=${PG_PORT} dbname=${PG_DATABASE} pool_size=4
${PG_DATABASE}_auth = host=${PG_HOST} port=${PG_PORT} dbname=${PG_DATABASE} pool_size=2
${PG_DATABASE}_llm = host=${PG_HOST} port=${PG_PORT} dbname=${PG_DATABASE} pool_size=2
; A pool capped by max_db_connections below its pool_size (the server-check test).
${PG_DATABASE}_capped = host=${PG_HOST} port=${PG_PORT} dbname=${PG_DATABASE} pool_size=4 max_db_connections=1
; One server connection: whatever a client leaves on it, the next client meets (the leak test).
${PG_DATABASE}_one = host=${PG_HOST} port=${PG_PORT} dbname=${PG_DATABASE} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $3
unix_socket_dir = $dir
pool_mode = $2
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = ${PG_USER}
stats_users = ${PG_USER}
max_client_conn = 500
default_pool_size = 4
; The trap the library must detect: listed here, the timeouts are accepted as startup parameters and silently
; dropped. Not listed (the strict instance), PgBouncer refuses the connection: "unsupported startup parameter".
ignore_startup_parameters = $ignore
server_reset_query = DISCARD ALL
logfile = $dir/$1.log
pidfile = $dir/$1.pid
INI
}

tx_port="$(free_port)"
session_port="$(free_port)"
while [ "$session_port" = "$tx_port" ]; do session_port="$(free_port)"; done
strict_port="$(free_port)"
while [ "$strict_port" = "$tx_port" ] || [ "$strict_port" = "$session_port" ]; do strict_port="$(free_port)"; done
write_ini transaction transaction "$tx_port" yes
write_ini session session "$session_port" yes
write_ini strict transaction "$strict_port" no

if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  run() { su postgres -s /bin/sh -c "$*"; }
else
  run() { sh -c "$*"; }
fi
for name in transaction session strict; do
  run "$bin -d -q $dir/$name.ini" >&2
done
for port in "$tx_port" "$session_port" "$strict_port"; do
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p "$port" -d "$PG_DATABASE" -U "$PG_USER" && break
    sleep 0.1
  done
  pg_isready -h 127.0.0.1 -p "$port" -d "$PG_DATABASE" -U "$PG_USER" >&2
done

echo "export PGBOUNCER_DIR='$dir'"
echo "export PGBOUNCER_TX_URL='postgres://${PG_USER}@127.0.0.1:${tx_port}/${PG_DATABASE}'"
echo "export PGBOUNCER_SESSION_URL='postgres://${PG_USER}@127.0.0.1:${session_port}/${PG_DATABASE}'"
echo "export PGBOUNCER_STRICT_URL='postgres://${PG_USER}@127.0.0.1:${strict_port}/${PG_DATABASE}'"
