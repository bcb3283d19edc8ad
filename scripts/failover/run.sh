#!/usr/bin/env bash
# A PostgreSQL failover under load, on one machine, with Debian's packages:
# one etcd, two PostgreSQL 15 nodes under Patroni (synchronous mode), and
# HAProxy routing 127.0.0.1:15000 to whichever node Patroni's REST API
# calls the primary. Three inkan replicas serve through HAProxy; they are
# started before the cluster exists, so they must wait for their database
# (not ready) and then serve by themselves.
#
# Under steady Issue/Refresh/Verify load (examples/failover_load.rs) it
# SIGKILLs the leader (Patroni and PostgreSQL both: a lost node), lets
# Patroni promote the replica, brings the old node back as a replica, then
# switches over back to it. The load then checks that nothing answered was
# lost and nothing spent can be spent again, and this script prints the
# figures BENCHMARKS.md quotes.
#
# Usage: scripts/failover/run.sh BIN_DIR   (where `inkan` and
# `examples/failover_load` are; builds the load if it is missing). Runs as
# root (PostgreSQL runs as the `postgres` user). Ports 12379-12380, 15000,
# 15432-15433, 18008-18009, 16051-16083 on 127.0.0.1.
set -euo pipefail

bin=${1:?usage: run.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
load=$bin/examples/failover_load

say() { printf '[failover %5.1fs] %s\n' "$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")" "$*"; }
t0=$(date +%s%N)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

[ -x "$bin/inkan" ] || { echo "$bin/inkan is missing"; exit 1; }
if [ ! -x "$load" ]; then
  (cd "$repo" && cargo build --quiet --example failover_load)
  load=${CARGO_TARGET_DIR:-$repo/target}/debug/examples/failover_load
fi
[ -n "$pg_bin" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql"; exit 1; }

work=$(mktemp -d /tmp/inkan-failover.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  set +e
  {
    for pid in "${pids[@]}"; do kill "$pid"; done
    sleep 1
    for pid in "${pids[@]}"; do kill -9 "$pid"; done
    # PostgreSQL children of a killed Patroni, by their data directories.
    for n in 1 2; do
      [ -f "$work/n$n/data/postmaster.pid" ] && kill -9 "$(head -n1 "$work/n$n/data/postmaster.pid")"
    done
    wait
  } 2>/dev/null
  if [ -n "${KEEP_FAILOVER_DIR:-}" ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- etcd -----------------------------------------------------------------
etcd --name e0 --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster e0=http://127.0.0.1:12380 >"$work/etcd.log" 2>&1 &
pids+=($!)

# --- HAProxy: the leader, by Patroni's /primary --------------------------
cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 256
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen primary
    bind 127.0.0.1:15000
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
    server n1 127.0.0.1:15432 check port 18008
    server n2 127.0.0.1:15433 check port 18009
EOF
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)

# --- three inkan replicas, before any database exists ---------------------
"$bin/inkan" keys generate --alg EdDSA --keys "$work/keys.json" >/dev/null
api_key=failover-load-key-0123456789abcdef
printf '%s' "$api_key" >"$work/api-key"
key_hash=$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)
targets=()
for r in 1 2 3; do
  port=$((16041 + 10 * r))
  mkdir -p "$work/inkan$r"
  cat >"$work/inkan$r/inkan.toml" <<EOF
keys_file = "$work/keys.json"
database_url = "postgres://postgres@127.0.0.1:15000/inkan"
issuer = "https://inkan.failover.test"
grpc_addr = "127.0.0.1:$port"
http_addr = "127.0.0.1:$((port + 1))"
metrics_addr = "127.0.0.1:$((port + 2))"
migrate_on_start = true
log_format = "json"
# Above the time a failover takes, so a client retrying a refresh whose
# answer was lost gets its token, not a reuse (docs/operations.md).
reuse_grace = "60s"
[[callers]]
name = "load"
api_key_sha256 = "$key_hash"
permissions = ["issue", "refresh", "admin"]
EOF
  (cd "$work/inkan$r" && exec "$bin/inkan" serve --config inkan.toml >log 2>&1) &
  pids+=($!)
  targets+=("http://127.0.0.1:$port")
done
say "etcd, HAProxy and 3 inkan replicas started (no database yet)"

# --- two PostgreSQL nodes under Patroni ------------------------------------
patroni_config() { # name, pg port, rest port
  cat <<EOF
scope: inkan-failover
name: $1
restapi:
  listen: 127.0.0.1:$3
  connect_address: 127.0.0.1:$3
etcd3:
  hosts: [127.0.0.1:12379]
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
    maximum_lag_on_failover: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_log_hints: "on"
        max_connections: 100
  initdb: [{encoding: UTF8}, {auth: trust}]
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$2
  connect_address: 127.0.0.1:$2
  data_dir: $work/$1/data
  bin_dir: $pg_bin
  pgpass: $work/$1/pgpass
  authentication:
    superuser: {username: postgres, password: unused}
    replication: {username: postgres, password: unused}
    rewind: {username: postgres, password: unused}
  parameters:
    unix_socket_directories: $work/$1
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
tags: {nofailover: false, noloadbalance: false, clonefrom: false, nosync: false}
EOF
}
start_node() { # name
  # setpriv execs (runuser would fork): $! is Patroni itself, for the kill.
  setpriv --reuid=postgres --regid=postgres --init-groups -- patroni "$work/$1/patroni.yml" >>"$work/$1/patroni.log" 2>&1 &
  eval "patroni_$1=$!"
  pids+=($!)
}
for n in n1 n2; do
  mkdir -p "$work/$n"
  port=$([ $n = n1 ] && echo 15432 || echo 15433)
  rest=$([ $n = n1 ] && echo 18008 || echo 18009)
  patroni_config "$n" "$port" "$rest" >"$work/$n/patroni.yml"
  chown -R postgres:postgres "$work/$n"
done
start_node n1
patronictl_() { patronictl -c "$work/n1/patroni.yml" "$@"; }
# Whether the node whose REST API is on port $1 has role $2 (primary, sync).
is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/$2")" = 200 ]; }
wait_for() { # what, seconds, command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
  say "timed out waiting for $what"; tail -n 30 "$work"/n*/patroni.log; return 1
}
wait_for "n1 to lead" 60 is 18008 primary
start_node n2
wait_for "n2 to replicate synchronously" 90 is 18009 sync
psql_() { psql -h 127.0.0.1 -p 15000 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }
wait_for "HAProxy to route to n1" 10 psql_ "SELECT 1" >/dev/null 2>&1
psql_ "CREATE DATABASE inkan"
say "cluster up: n1 leads, n2 a synchronous replica; database created"

# --- load ------------------------------------------------------------------
"$load" --targets "$(IFS=,; echo "${targets[*]}")" --api-key-file "$work/api-key" \
  --stop-file "$work/stop" --summary "$work/summary.json" --workers 6 >"$work/load.out" 2>"$work/load.err" &
load_pid=$!
pids+=($load_pid)
wait_for "every replica to become ready" 120 grep -q "every replica ready" "$work/load.err"
say "every inkan replica ready by itself: $(grep -o '\[.*\] ms' "$work/load.err")"
sleep 8

# --- failover: the leader's node is lost ------------------------------------
say "SIGKILL n1 (Patroni and PostgreSQL)"
killed_at=$(now_ms)
kill -9 "$patroni_n1" "$(head -n1 "$work/n1/data/postmaster.pid")"
wait "$patroni_n1" 2>/dev/null || true
wait_for "n2 to be promoted" 60 is 18009 primary
promoted_at=$(now_ms)
wait_for "HAProxy to route to n2" 20 psql_ "SELECT 1" >/dev/null 2>&1
say "n2 promoted $((promoted_at - killed_at)) ms after the kill"
sleep 8
start_node n1
wait_for "n1 to rejoin as a synchronous replica" 90 is 18008 sync
say "n1 back as a synchronous replica"
sleep 4

# --- switchover back ---------------------------------------------------------
say "switchover n2 -> n1"
switched_at=$(now_ms)
patronictl_ switchover --leader n2 --candidate n1 --force inkan-failover >"$work/switchover.log" 2>&1
wait_for "n1 to lead again" 60 is 18008 primary
switched_done_at=$(now_ms)
say "n1 leads again $((switched_done_at - switched_at)) ms after the switchover began"
sleep 8

touch "$work/stop"
status=0
wait "$load_pid" || status=$?
cat "$work/load.out"

# --- figures -------------------------------------------------------------------
python3 - "$work/summary.json" "$killed_at" "$promoted_at" "$switched_at" "$switched_done_at" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
killed, promoted, switched, switched_done = map(int, sys.argv[2:6])
def event(start, end_, before):
    """Per replica: how long after `end_` (the new leader up) its calls
    succeeded again, from the failures that began between `start` and
    `before` (the next event)."""
    rec = {}
    for replica, a, b in s["outages_ms"]:
        if start - 1000 <= a < before:
            rec[replica] = max(rec.get(replica, 0), b or a)
    return {r: max(0, t - end_) for r, t in sorted(rec.items())}
fail = event(killed, promoted, switched)
sw = event(switched, switched_done, float("inf"))
print("figures:")
print(f"  leader killed -> replica promoted (Patroni): {(promoted - killed) / 1000:.1f} s")
print(f"  replicas serving again after the promotion: " + (", ".join(f"r{r + 1} {v / 1000:.1f} s" for r, v in fail.items()) or "never failed"))
print(f"  switchover (patronictl) -> new leader: {(switched_done - switched) / 1000:.1f} s")
print(f"  replicas serving again after the switchover: " + (", ".join(f"r{r + 1} {v / 1000:.1f} s" for r, v in sw.items()) or "never failed"))
print(f"  calls answered: {s['issued']} Issue, {s['refreshed']} Refresh, {s['verified']} Verify ({s['verified_in_outage']} of them right after a failed Issue/Refresh)")
print(f"  calls failed: {s['failed_retry']} UNAVAILABLE/retry, {s['failed_other']} otherwise (INTERNAL, a token failure, Verify failing)")
print(f"  tokens lost: {s['tokens_lost']} of {s['chains_checked']} chains checked; replays refused as reuse: {s['reuse_refused']}; spent twice: {s['spent_twice']}")
EOF
if [ "$status" -ne 0 ]; then
  echo "the load found answers it should not have (exit $status); inkan logs:"
  for r in 1 2 3; do tail -n 5 "$work/inkan$r/log"; done
  exit 1
fi
