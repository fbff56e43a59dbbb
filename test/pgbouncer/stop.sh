#!/usr/bin/env bash
# Stops the PgBouncer instances test/pgbouncer/start.sh started in directory $1 (or $PGBOUNCER_DIR), and removes it.
set -euo pipefail
dir="${1:-${PGBOUNCER_DIR:-}}"
[ -n "$dir" ] && [ -d "$dir" ] || { echo "usage: stop.sh <PGBOUNCER_DIR>" >&2; exit 1; }
for pidfile in "$dir"/*.pid; do
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
sleep 0.2
rm -rf "$dir"
