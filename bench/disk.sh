#!/usr/bin/env bash
# bench/disk.sh: disk per queued conversion, with where the bytes go.
#
#   bench/disk.sh sqlite [-n 100000] [--no-build]
#   bench/disk.sh postgres [-n 100000] [--no-build]
#
# A fresh server and store; the sandbox fails every request (an outage, so nothing is delivered and
# every conversion stays queued, with the attempts its retries leave); N leads with a landing URL,
# email, phone, IP and user agent are ingested in batches of 500 (one conversion each). Then the
# store is measured table by table and index by index:
#   SQLite     the pages of each b-tree as SQLite itself counts them (the dbstat table, read through
#              the WAL, so the WAL's own size is left out), plus the WAL file's size on its own line;
#   PostgreSQL each table's own size (heap and TOAST, dead row versions included) and each index's.
# Bytes per conversion = total / conversions in the store. The issue's target: ≤ 1.5 KB (SQLite),
# ≤ 2 KB (PostgreSQL).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

store="${1:-}"
case "$store" in
    sqlite|postgres) shift ;;
    *) echo "usage: bench/disk.sh sqlite|postgres [-n N] [--no-build]" >&2; exit 2 ;;
esac
n=100000
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n) n="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) die "unknown option $1" ;;
    esac
done
[[ "$store" == postgres ]] || command -v sqlite3 >/dev/null || die "SQLite runs need the sqlite3 shell (apt-get install sqlite3)"
((build)) && build_release

start_sandbox "$WORK/sandbox.log"
DB_URL=""
[[ "$store" == postgres ]] && pg_fresh_url
write_config "$WORK/signalpost.toml" "$WORK/data" "$DB_URL"
start_server "$WORK/signalpost.toml" "$WORK/server.log"
sandbox_fault http_500 86400
log "ingesting $n leads while the destination is down"
loadgen --mode batch --batch-size 500 --sold-share 0 --connections 4 --requests $((n / 500)) \
    --duration 3600 >"$WORK/ingest.txt"
sleep 3

if [[ "$store" == postgres ]]; then
    conversions=$(pg_sql "SELECT count(*) FROM conversions")
    # A table's own size (heap, TOAST, free space map; dead row versions included) and each index's.
    pg_sql "SELECT c.relname, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid)
        ELSE pg_relation_size(c.oid) END FROM pg_class c
        JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE s.nspname = '$PG_SCHEMA' AND c.relkind IN ('r', 'i') ORDER BY 2 DESC" \
        | tr '|' ' ' >"$WORK/sizes.txt"
    total=$(awk '{s += $2} END {print s}' "$WORK/sizes.txt")
    wal=0
else
    db="$WORK/data/signalpost.db"
    [[ -f "$db" ]] || db=$(ls "$WORK"/data/*.db | head -1)
    conversions=$(sqlite3 "file:$db?mode=ro" "SELECT count(*) FROM conversions")
    sqlite3 "file:$db?mode=ro" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC" \
        | tr '|' ' ' >"$WORK/sizes.txt"
    total=$(awk '{s += $2} END {print s}' "$WORK/sizes.txt")
    wal=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
fi
stop_server

python3 - "$store" "$n" "$conversions" "$total" "$wal" "$WORK/sizes.txt" <<'PY'
import sys
store, n, conversions, total, wal, sizes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print(f"signalpost {store}: {n:,} leads ingested during an outage, {conversions:,} conversions queued")
print(f"| b-tree | bytes | bytes per conversion |")
print(f"|---|---:|---:|")
for line in open(sizes):
    name, size = line.split()
    print(f"| {name} | {int(size):,} | {int(size) / conversions:,.0f} |")
print(f"| **store (WAL excluded)** | **{total:,}** | **{total / conversions:,.0f}** |")
if store == "sqlite":
    print(f"| WAL file (apart) | {wal:,} | {wal / conversions:,.0f} |")
PY
