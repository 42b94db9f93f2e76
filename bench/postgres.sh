#!/usr/bin/env bash
# Ingest and delivery rates of signalpost over HTTP on loopback, measured with the load tool
# (crates/loadgen) against the real `signalpost serve` binary and the sandbox as TikTok's stand-in:
#
#   sqlite-1    one node, SQLite under its data_dir (the baseline)
#   postgres-1  one node on a fresh PostgreSQL schema
#   postgres-3  three nodes sharing one fresh schema
#
# Each configuration runs two phases:
#   ingest    one loadgen per node, all at once, flat out for DURATION seconds (single leads, 30 %
#             later sold); items/s is the sum over the nodes; every acknowledged conversion must then
#             arrive at the sandbox exactly once per event_id (PASS/FAIL).
#   delivery  one loadgen with --hold-delivery: the sandbox fails while a backlog is ingested, then
#             recovers; events/s is how fast ALL nodes drain that backlog.
#
# Usage:  bench/postgres.sh [DURATION_SECONDS]          (default 10)
# Env:    SIGNALPOST_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test)
#         BENCH_PORT                    first of the loopback ports used (default 19100)
#         BENCH_OUT                     where logs and JSON go (default target/bench-postgres)
#         BENCH_CONNECTIONS             load connections in total per phase (default 96)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
DB=${SIGNALPOST_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export PGOPTIONS="--client-min-messages=warning"
PORT=${BENCH_PORT:-19100}
OUT=${BENCH_OUT:-target/bench-postgres}
CONNECTIONS=${BENCH_CONNECTIONS:-96}
KEY=bench-key-0123456789abcdef0123456789
PIXEL=CBENCHPIXEL001
TOKEN=bench-access-token-0123456789
SANDBOX=http://127.0.0.1:$PORT

command -v psql >/dev/null || { echo "bench/postgres.sh needs psql" >&2; exit 2; }
psql "$DB" -qAtc 'SELECT 1' >/dev/null || { echo "cannot reach PostgreSQL at $DB" >&2; exit 2; }

echo "== building (release)"
cargo build --release -q -p signalpost -p signalpost-loadgen
BIN=target/release/signalpost
LOADGEN=target/release/loadgen

rm -rf "$OUT"
mkdir -p "$OUT"
PIDS=()
SCHEMAS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for schema in "${SCHEMAS[@]}"; do psql "$DB" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null || true; done
}
trap cleanup EXIT

# Waits until URL answers (any HTTP status), up to 60 s.
wait_http() {
    for _ in $(seq 600); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    exit 2
}

"$BIN" sandbox --listen "127.0.0.1:$PORT" --pixel "$PIXEL=$TOKEN" >"$OUT/sandbox.log" 2>&1 &
PIDS+=($!)
wait_http "$SANDBOX/sandbox/stats"

# write_config NAME NODE DATABASE_URL: one node's config file.
write_config() {
    local name=$1 node=$2 url=$3 port=$((PORT + 1 + $2))
    local db_line=""
    [ -n "$url" ] && db_line="database_url = \"$url\""
    cat >"$OUT/$name-node$node.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
data_dir = "$OUT/$name-data$node"
$db_line
api_keys = ["$KEY"]

[[pixels]]
code = "$PIXEL"
access_token = "$TOKEN"
base_url = "$SANDBOX"

[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "$PIXEL"
event = "CompleteRegistration"

[[rules]]
name = "sale"
trigger = "lead_sold"
pixel = "$PIXEL"
event = "Purchase"
value = "revenue"

# No pacing towards the sandbox; a held backlog is retried quickly once it recovers.
[delivery]
requests_per_second = 0
retry_base_ms = 100
retry_cap_ms = 1000
TOML
}

# run NAME NODES DATABASE_URL
run() {
    local name=$1 nodes=$2 url=$3 node_pids=() loads=()
    echo "== $name: $nodes node(s)"
    for n in $(seq 0 $((nodes - 1))); do
        write_config "$name" "$n" "$url"
        RUST_LOG=warn "$BIN" serve --config "$OUT/$name-node$n.toml" >"$OUT/$name-node$n.log" 2>&1 &
        node_pids+=($!)
        PIDS+=($!)
    done
    for n in $(seq 0 $((nodes - 1))); do wait_http "http://127.0.0.1:$((PORT + 1 + n))/healthz"; done

    local per_node=$((CONNECTIONS / nodes))
    for n in $(seq 0 $((nodes - 1))); do
        "$LOADGEN" --target "http://127.0.0.1:$((PORT + 1 + n))" --key "$KEY" --sandbox "$SANDBOX" \
            --duration "$DURATION" --connections "$per_node" --threads 1 \
            --json "$OUT/$name-ingest$n.json" >"$OUT/$name-ingest$n.txt" 2>&1 &
        loads+=($!)
    done
    local failed=0
    for pid in "${loads[@]}"; do wait "$pid" || failed=1; done
    "$LOADGEN" --target "http://127.0.0.1:$((PORT + 1))" --key "$KEY" --sandbox "$SANDBOX" \
        --duration "$DURATION" --connections "$CONNECTIONS" --threads 1 --hold-delivery \
        --json "$OUT/$name-delivery.json" >"$OUT/$name-delivery.txt" 2>&1 || failed=1

    for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    python3 - "$OUT" "$name" "$nodes" <<'PY'
import json, sys
out, name, nodes = sys.argv[1], sys.argv[2], int(sys.argv[3])
ingest = [json.load(open(f"{out}/{name}-ingest{n}.json")) for n in range(nodes)]
held = json.load(open(f"{out}/{name}-delivery.json"))
items = sum(r["items_per_second"] for r in ingest)
p99 = max(r["latency"]["p99_ms"] for r in ingest)
checks = [r.get("delivery") or {} for r in ingest] + [held.get("delivery") or {}]
ok = all(c.get("passed") for c in checks)
dups = sum(c.get("duplicate_deliveries", 0) for c in checks)
rate = (held.get("delivery") or {}).get("events_per_second") or 0
line = (f"{name:<12} ingest {items:>8.0f} items/s (p99 {p99:.1f} ms)   "
        f"delivery drain {rate:>8.0f} events/s   duplicates {dups}   check {'PASS' if ok else 'FAIL'}")
print(line)
open(f"{out}/summary.txt", "a").write(line + "\n")
PY
    return $failed
}

status=0
run sqlite-1 1 "" || status=1
for nodes in 1 3; do
    schema="sp_bench_$(date +%s)_$nodes"
    psql "$DB" -qc "CREATE SCHEMA $schema" >/dev/null
    SCHEMAS+=("$schema")
    sep='?'
    case "$DB" in *\?*) sep='&' ;; esac
    run "postgres-$nodes" "$nodes" "$DB${sep}options=-csearch_path%3D$schema" || status=1
done
echo "== summary ($DURATION s per phase; figures in $OUT)"
cat "$OUT/summary.txt"
exit $status
