#!/usr/bin/env bash
# The one command behind BENCHMARKS.md: builds release binaries, runs inkan
# on SQLite (one server per signing algorithm) and on PostgreSQL, drives
# each with inkan-bench, measures the oidc-provider peer and the criterion
# baselines in the same run, and writes the table to target/bench/report.md.
#
#   bench/run.sh                       # about 15 minutes on 2 cores
#   INKAN_BENCH_DURATION=3s bench/run.sh
#   INKAN_BENCH_SCALE=1 bench/run.sh   # also a ledger of 10 thousand, then
#                                      # 1 million sessions (adds ~2 min)
#   INKAN_BENCH_SOAK=10m bench/run.sh  # also a mixed soak, RSS sampled
#   INKAN_BENCH_ONLY=write bench/run.sh
#                                      # the write path only: Issue and
#                                      # Refresh at 16 in flight on SQLite
#                                      # and PostgreSQL, the peer, and the
#                                      # ledger's criterion bench (~3 min)
#   INKAN_BENCH_BINARIES=dir bench/run.sh
#                                      # serve and drive with dir/inkan and
#                                      # dir/inkan-bench instead of building
#                                      # (to compare two builds in turn;
#                                      # the criterion benches, this tree's,
#                                      # are left out)
#
# PostgreSQL is used when INKAN_BENCH_DATABASE_URL (a server URL; the run
# makes and drops its own database) or the local default answers; the peer
# when node and npm are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

duration=${INKAN_BENCH_DURATION:-10s}
concurrency=${INKAN_BENCH_CONCURRENCY:-16}
pg_server=${INKAN_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
target_dir=${CARGO_TARGET_DIR:-target}
out="$target_dir/bench"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"
rm -f "$out"/*.json

say() { printf '\n== %s\n' "$*" >&2; }

only=${INKAN_BENCH_ONLY:-}
case "$only" in "" | write) ;; *) echo "INKAN_BENCH_ONLY takes only 'write'" >&2; exit 2 ;; esac
binaries=${INKAN_BENCH_BINARIES:-}
if [ -z "$binaries" ]; then
  say "building release binaries"
  cargo build --release --quiet -p inkan -p inkan-bench
  binaries="$target_dir/release"
fi
inkan="$binaries/inkan"
bench="$binaries/inkan-bench"
port=52100

# start NAME ALG DATABASE_URL: a production-shaped server (key file, an API
# key caller, JSON logs to a file) on the next free ports; sets $server_pid,
# $server_addr and $api_key.
start() {
  local name=$1 alg=$2 url=$3 dir="$work/$1"
  mkdir -p "$dir"
  "$inkan" keys generate --alg "$alg" --keys "$dir/keys.json" >/dev/null
  "$inkan" callers add --name bench --permission issue --permission admin >"$dir/caller.txt"
  api_key=$(sed -n 3p "$dir/caller.txt")
  server_addr="127.0.0.1:$port"
  {
    echo "keys_file = \"$dir/keys.json\""
    echo "database_url = \"$url\""
    echo "issuer = \"https://inkan.bench.invalid\""
    echo "grpc_addr = \"$server_addr\""
    echo "http_addr = \"127.0.0.1:$((port + 1))\""
    echo "metrics_addr = \"127.0.0.1:$((port + 2))\""
    echo "migrate_on_start = true"
    if [ -n "${EXTRA_CONFIG:-}" ]; then echo "$EXTRA_CONFIG"; fi
    sed -n '/^\[\[callers\]\]/,$p' "$dir/caller.txt"
  } >"$dir/inkan.toml"
  port=$((port + 3))
  env ${RUST_LOG_OVERRIDE:+RUST_LOG=$RUST_LOG_OVERRIDE} \
    "$inkan" serve --config "$dir/inkan.toml" >"$dir/server.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}

stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

# drive LABEL [inkan-bench flags...]
drive() {
  local label=$1; shift
  say "$label"
  INKAN_BENCH_API_KEY="$api_key" "$bench" --target "http://$server_addr" \
    --server-pid "$server_pid" --duration "$duration" --label "$label" \
    --json "$out/$label.json" "$@"
}

if [ "$only" = write ]; then
  start sqlite-eddsa EdDSA "sqlite://$work/sqlite-eddsa.db?mode=rwc"
  drive sqlite-eddsa --concurrency "$concurrency" --scenarios health,issue,refresh
  stop
else
# Not indented: the SQL heredocs below must start their lines.
start sqlite-eddsa EdDSA "sqlite://$work/sqlite-eddsa.db?mode=rwc"
drive sqlite-eddsa-1 --concurrency 1 --connections 1 --scenarios health,issue,refresh,verify
drive sqlite-eddsa --concurrency "$concurrency"
stop

# What the one log line per call costs: the same calls with INFO off.
RUST_LOG_OVERRIDE=warn
start sqlite-quiet EdDSA "sqlite://$work/sqlite-quiet.db?mode=rwc"
drive sqlite-eddsa-nolog --concurrency "$concurrency" --scenarios health,verify,issue
stop
RUST_LOG_OVERRIDE=

if [ -n "${INKAN_BENCH_SCALE:-}" ]; then
  # The same calls against a ledger of 10 thousand and of 1 million live
  # sessions: per-call cost must not grow with the ledger. The sessions
  # (each with an unspent refresh token, shaped as Issue writes them) are
  # written with SQL before the server starts: a million Issue calls would
  # take a quarter of an hour and measure nothing more.
  command -v sqlite3 >/dev/null || { echo "INKAN_BENCH_SCALE needs the sqlite3 shell" >&2; exit 1; }
  for size in 10000 1000000; do
    db="$work/sqlite-scale-$size.db"
    "$inkan" migrate --database-url "sqlite://$db?mode=rwc" >/dev/null 2>&1
    sqlite3 "$db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $size)
INSERT INTO inkan_sessions SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'fill-' || i,
  'inkan-bench', 'fill', '["inkan-bench-api"]', 'read', '{}', unixepoch(), unixepoch(),
  unixepoch() + 30 * 86400, NULL, NULL FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $size)
INSERT INTO inkan_refresh_tokens SELECT printf('%064x', i), printf('%08x-0000-4000-8000-%012x', i, i),
  NULL, 0, unixepoch(), unixepoch() + 14 * 86400, NULL, NULL, NULL FROM n;
SQL
    label=sqlite-10k; [ "$size" = 1000000 ] && label=sqlite-1m
    start "$label" EdDSA "sqlite://$db?mode=rwc"
    drive "$label" --concurrency "$concurrency" --scenarios health,refresh,verify
    stop
  done
fi

if [ -n "${INKAN_BENCH_SOAK:-}" ]; then
  # Short lifetimes, so that sessions end, their rows are purged and the
  # ledger reaches a steady size within the soak: what is measured is
  # whether memory stays bounded, not how a growing file is cached.
  EXTRA_CONFIG=$'access_token_ttl = "1m"\nleeway = "5s"\nrefresh_token_idle_ttl = "2m"\nsession_lifetime = "2m"\npurge_retention = "2m"'
  start sqlite-soak EdDSA "sqlite://$work/sqlite-soak.db?mode=rwc"
  say "soak: $INKAN_BENCH_SOAK of mixed calls"
  INKAN_BENCH_API_KEY="$api_key" "$bench" --target "http://$server_addr" \
    --server-pid "$server_pid" --duration "$INKAN_BENCH_SOAK" --label soak \
    --concurrency "$concurrency" --scenarios mixed --memory-every 30s --json "$out/soak.json"
  stop
  EXTRA_CONFIG=
fi

for alg in ES256 RS256; do
  lower=$(echo "$alg" | tr 'A-Z' 'a-z')
  start "sqlite-$lower" "$alg" "sqlite://$work/sqlite-$lower.db?mode=rwc"
  drive "sqlite-$lower" --concurrency "$concurrency" --scenarios health,verify,verify-repeated
  stop
done

# Verify of distinct tokens with the verify cache off: every call checks
# its signature, as the first sight of each token does.
EXTRA_CONFIG="verify_cache_bytes = 0"
for alg in EdDSA ES256 RS256; do
  lower=$(echo "$alg" | tr 'A-Z' 'a-z')
  start "sqlite-$lower-uncached" "$alg" "sqlite://$work/sqlite-$lower-uncached.db?mode=rwc"
  drive "sqlite-$lower-uncached" --concurrency "$concurrency" --scenarios health,verify
  stop
done
EXTRA_CONFIG=
fi # INKAN_BENCH_ONLY

if pg_isready -q -d "$pg_server/postgres" 2>/dev/null; then
  psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS inkan_bench" -c "CREATE DATABASE inkan_bench"
  start postgres EdDSA "$pg_server/inkan_bench"
  if [ "$only" = write ]; then
    drive postgres --database-process postgres --concurrency "$concurrency" --scenarios health,issue,refresh
  else
    drive postgres-1 --database-process postgres --concurrency 1 --connections 1 --scenarios health,issue,refresh
    drive postgres --database-process postgres --concurrency "$concurrency"
  fi
  stop
  psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS inkan_bench"
  # benches/ledger.rs measures the ledger's own statements there too.
  export INKAN_BENCH_DATABASE_URL="$pg_server/postgres"
else
  say "PostgreSQL is not reachable at $pg_server: its rows are left out"
fi

if command -v node >/dev/null && command -v npm >/dev/null; then
  say "peer: node oidc-provider"
  (cd bench/peer && npm ci --silent --no-audit --no-fund)
  node bench/peer/bench.mjs --concurrency "$concurrency" --duration "${duration%s}" \
    --json "$out/peer.json" 2> >(grep -v WARNING >&2)
else
  say "node is not installed: the peer's rows are left out"
fi

say "criterion baselines"
# Only this run's figures: criterion keeps earlier runs' beside them.
rm -rf "$target_dir/criterion"
if [ -n "${INKAN_BENCH_BINARIES:-}" ]; then
  # The benches are this tree's, not the prebuilt binaries'.
  say "prebuilt binaries: criterion's benches left out"
  : >"$out/criterion.txt"
elif [ "$only" = write ]; then
  cargo bench --quiet -p inkan --bench ledger -- --noplot >"$out/criterion.txt"
else
  cargo bench --quiet --workspace --bench '*' -- --noplot >"$out/criterion.txt"
fi

python3 bench/report.py "$out" "$target_dir/criterion" >"$out/report.md"
cat "$out/report.md"
