#!/usr/bin/env bash
# Where a write-path call's CPU goes: serves inkan as bench/run.sh does,
# drives one scenario at 16 in flight with inkan-bench, and meanwhile
# records `perf record -a -g` of the whole machine, so that one run gives
# both inkan's profile (by its pid) and PostgreSQL's (by the comm
# `postgres`). Writes, under target/bench/profile/BACKEND-SCENARIO/:
# perf.data, the bench's own figures (bench.txt), the ms of CPU per
# process in the window (ms-by-pid.txt), inkan's and PostgreSQL's samples
# grouped by bench/profile_families.py (inkan.md, postgres.md) and, on
# PostgreSQL, the table statistics before and after the window (rows
# written, HOT updates, commits: the calls in the window are the rows
# inserted into inkan_refresh_tokens).
#
#   bench/profile.sh postgres refresh
#   bench/profile.sh sqlite issue
#   INKAN_BENCH_BINARIES=dir bench/profile.sh ...   # dir/inkan, dir/inkan-bench
#   INKAN_PROFILE_SECONDS=7                          # the recorded window
#
# Needs perf (run as root, or with perf_event_paranoid at most 0).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:?"sqlite or postgres"}
scenario=${2:?"issue or refresh"}
seconds=${INKAN_PROFILE_SECONDS:-7}
pg_server=${INKAN_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
binaries=${INKAN_BENCH_BINARIES:-${CARGO_TARGET_DIR:-target}/release}
out="${CARGO_TARGET_DIR:-target}/bench/profile/$backend-$scenario"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"

case "$backend" in
  sqlite) url="sqlite://$work/ledger.db?mode=rwc"; db_flag=() ;;
  postgres)
    psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS inkan_prof" -c "CREATE DATABASE inkan_prof"
    url="$pg_server/inkan_prof"; db_flag=(--database-process postgres) ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac

# The server as bench/run.sh starts it: a key file, an API key caller, JSON
# logs to a file.
"$binaries/inkan" keys generate --alg EdDSA --keys "$work/keys.json" >/dev/null
"$binaries/inkan" callers add --name bench --permission issue --permission admin >"$work/caller.txt"
api_key=$(sed -n 3p "$work/caller.txt")
{
  echo "keys_file = \"$work/keys.json\""
  echo "database_url = \"$url\""
  echo "issuer = \"https://inkan.bench.invalid\""
  echo "grpc_addr = \"127.0.0.1:52190\""
  echo "http_addr = \"127.0.0.1:52191\""
  echo "metrics_addr = \"127.0.0.1:52192\""
  echo "migrate_on_start = true"
  sed -n '/^\[\[callers\]\]/,$p' "$work/caller.txt"
} >"$work/inkan.toml"
"$binaries/inkan" serve --config "$work/inkan.toml" >"$work/server.log" 2>&1 &
server_pid=$!

pg_stats() {
  psql -q "$pg_server/inkan_prof" -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd
    FROM pg_stat_user_tables WHERE relname LIKE 'inkan_%' ORDER BY relname" \
    -c "SELECT xact_commit, blks_hit, tup_inserted, tup_updated FROM pg_stat_database
    WHERE datname = 'inkan_prof'" \
    -c "SELECT pid, backend_type, state FROM pg_stat_activity WHERE datname = 'inkan_prof'
    OR backend_type <> 'client backend' ORDER BY pid"
}

# The bench runs three seconds longer on each side of the recorded window.
sleep 1
INKAN_BENCH_API_KEY="$api_key" "$binaries/inkan-bench" --target http://127.0.0.1:52190 \
  --server-pid "$server_pid" "${db_flag[@]}" --concurrency 16 \
  --duration "$((seconds + 6))s" --scenarios "$scenario" >"$out/bench.txt" 2>&1 &
bench_pid=$!
sleep 3
if [ "$backend" = postgres ]; then pg_stats >"$out/pg-before.txt"; fi
perf record -F 999 -a -g -o "$out/perf.data" -- sleep "$seconds" 2>"$out/perf-record.log"
if [ "$backend" = postgres ]; then
  pg_stats >"$out/pg-after.txt"
  # The backends serving this database, and the WAL writer: other
  # databases' sessions on the same server are left out.
  pg_pids=$(psql -Atq "$pg_server/postgres" -c "SELECT string_agg(pid::text, ',')
    FROM pg_stat_activity WHERE datname = 'inkan_prof' OR backend_type = 'walwriter'")
fi
wait "$bench_pid"

# Per process, samples are milliseconds of CPU (cpu-clock, 999 Hz).
echo "$server_pid" >"$out/server.pid"
echo "${pg_pids:-}" >"$out/postgres.pids"
perf script -i "$out/perf.data" -F pid,period 2>/dev/null |
  awk '{ms[$1] += $2 / 1e6} END {for (p in ms) printf "%d %.0f\n", p, ms[p]}' |
  sort -k2 -rn >"$out/ms-by-pid.txt"
perf script -i "$out/perf.data" -F pid,ip,sym,dso 2>/dev/null >"$out/stacks.txt"
bench/profile_families.py inkan "$out/stacks.txt" "$server_pid" >"$out/inkan.md"
if [ "$backend" = postgres ]; then
  bench/profile_families.py postgres "$out/stacks.txt" "$pg_pids" >"$out/postgres.md"
fi
echo "profile in $out" >&2
