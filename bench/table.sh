#!/usr/bin/env bash
# bench/table.sh: the performance table of signalpost for one store, with one command.
#
#   bench/table.sh sqlite                 # SQLite (WAL, synchronous=FULL) in a temp dir
#   bench/table.sh postgres               # PostgreSQL, a fresh schema on $PG_URL (dropped at exit)
#   bench/table.sh sqlite -n 100000       # a quick run: a 100k backlog instead of 1M
#
# It builds the release binaries, starts `signalpost sandbox` (TikTok's stand-in, validating every
# event) and a fresh `signalpost serve`, then measures, with `loadgen` (crates/loadgen):
#   idle RSS        server RSS 2 s after start;
#   HTTP ceiling    GET /capture.js (a static route, no key, nothing stored) flat out on C
#                   connections for D seconds: what this machine's HTTP stack and load tool reach,
#                   the figure single-lead ingest is quoted against (a share, same run);
#   single lead     POST /v1/leads flat out on C connections for D seconds (30 % of the leads later
#                   get a lead_sold), delivery running alongside: req/s and latency percentiles;
#   batch ingest    POST /v1/batch of 500 items on 4 connections, min(N, 200k) items: items/s;
#   backlog         the sandbox fails every request (HTTP 500: an outage) while N leads are
#                   ingested in batches (N conversions queued), server RSS with them queued; then
#                   the outage ends and the time until the sandbox holds all N is the drain time;
#                   delivery events/s = N / drain time.
# After every phase loadgen checks with the sandbox that each acknowledged conversion arrived exactly
# once per event_id. Everything is stopped at exit (trap), whatever happens.
#
# Options:
#   -n N         backlog size (default 1000000)
#   -d SECONDS   single-lead run length (default 10)
#   -c CONNS     single-lead connections (default 64)
#   -o DIR       results dir (default target/bench/STORE-YYYYmmdd-HHMMSS): table.md, table.json, each
#                phase's loadgen JSON and text, server and sandbox logs
#   --no-build   use the binaries already in target/release
# Environment: PG_URL (default postgres://postgres@127.0.0.1:5432/test), RUST_LOG (server, default warn),
#   SANDBOX_LATENCY_MS (default 150): the sandbox holds every answer P50[:P99] ms, like TikTok; 0 = off.
#   The table's first line says which latency was used.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

store="${1:-}"
case "$store" in
    sqlite|postgres) shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "usage: bench/table.sh sqlite|postgres [-n N] [-d SECONDS] [-c CONNS] [-o DIR] [--no-build]" >&2; exit 2 ;;
esac
backlog=1000000
duration=10
connections=64
out=""
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n) backlog="$2"; shift 2 ;;
        -d) duration="$2"; shift 2 ;;
        -c) connections="$2"; shift 2 ;;
        -o) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
((backlog >= 500)) || die "-n must be at least 500"
out="${out:-$ROOT/target/bench/$store-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
((build)) && build_release

load_start=$(load_avg)
log "store $store, backlog $backlog, sandbox latency $(sandbox_latency_label), results in $out (load average $load_start)"
start_sandbox "$out/sandbox.log"
DB_URL=""
[[ "$store" == postgres ]] && pg_fresh_url
write_config "$WORK/signalpost.toml" "$WORK/data" "$DB_URL"
start_server "$WORK/signalpost.toml" "$out/server.log"
sleep 2
rss_idle=$(rss_mb "$SERVER_PID")
log "idle RSS $rss_idle MB"

# phase NAME ARGS...: one loadgen run with the delivery check; its table goes to NAME.txt.
phase() {
    local name=$1; shift
    sandbox_clear_events
    log "$name: loadgen $*"
    loadgen --sandbox "$SANDBOX" --json "$out/$name.json" "$@" | tee "$out/$name.txt" >&2 \
        || log "$name: the delivery check FAILED (see $out/$name.txt)"
}

log "HTTP ceiling: loadgen --mode static --path /capture.js"
loadgen --mode static --path /capture.js --connections "$connections" --duration "$duration" \
    --json "$out/ceiling.json" | tee "$out/ceiling.txt" >&2
phase lead --mode lead --connections "$connections" --duration "$duration"
batch_items=$((backlog < 200000 ? backlog : 200000))
phase batch --mode batch --batch-size 500 --connections 4 --requests $((batch_items / 500)) --duration 600

# The outage: the sandbox answers HTTP 500 to everything while the backlog is ingested.
sandbox_clear_events
sandbox_fault http_500 86400
outage_start=$(now)
run_id="bl$RANDOM$RANDOM"
log "backlog: ingesting $backlog leads while the destination is down"
loadgen --mode batch --batch-size 500 --sold-share 0 --connections 4 --requests $((backlog / 500)) \
    --duration 3600 --run-id "$run_id" --acked-out "$out/backlog.acked" --json "$out/backlog.json" \
    | tee "$out/backlog.txt" >&2
sleep 2
rss_queued=$(rss_mb "$SERVER_PID")
if [[ "$store" == postgres ]]; then
    # Counted in the database: /metrics gives up on a count that takes longer than its timeout.
    queued=$(pg_sql "SELECT count(*) FROM conversions WHERE state NOT IN ('delivered', 'dead', 'suppressed')")
    store_mb=$(pg_sql "SELECT (sum(pg_total_relation_size(c.oid)) / 1048576)::bigint FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$PG_SCHEMA' AND c.relkind = 'r'")
else
    queued=$(metric signalpost_queue_depth)
    store_mb=$(du -sm "$WORK/data" | cut -f1)
fi
log "backlog queued: $queued conversions, RSS $rss_queued MB, store $store_mb MB"
released=$(now)
sandbox_clear_faults
log "outage over after $(python3 -c "print(round($released - $outage_start))") s; draining"
loadgen --check-acked "$out/backlog.acked" --sandbox "$SANDBOX" --run-id "$run_id" \
    --verify-timeout 1800 --json "$out/drain.json" | tee "$out/drain.txt" >&2 \
    || log "drain: the delivery check FAILED (see $out/drain.txt)"
rss_after=$(rss_mb "$SERVER_PID")
dead=$(metric signalpost_conversions_dead_total)
stop_server

python3 - "$out" "$store" "$backlog" "$released" "$outage_start" "$rss_idle" "$rss_queued" "$rss_after" \
    "$queued" "$store_mb" "$dead" "$load_start" "$(load_avg)" "$(sandbox_latency_label)" "$SANDBOX_LATENCY_MS" <<'PY'
import json, os, platform, subprocess, sys
(out, store, backlog, released, outage_start, rss_idle, rss_queued, rss_after, queued, store_mb,
 dead, load_start, load_end, latency_label, latency_ms) = sys.argv[1:16]
backlog, released, outage_start = int(backlog), float(released), float(outage_start)
runs = {n: json.load(open(f"{out}/{n}.json")) for n in ("ceiling", "lead", "batch", "backlog", "drain")}
ceiling = runs["ceiling"]["requests_per_second"]
lead, batch, ingest, drain = runs["lead"], runs["batch"], runs["backlog"], runs["drain"]["delivery"]
drain_secs = (drain["last_received_unix"] - released) if drain.get("last_received_unix") else None
def check(d):
    d = d or {}
    if d.get("passed"):
        return "ok" + (f" ({d['duplicate_deliveries']} same-payload repeats)" if d.get("duplicate_deliveries") else "")
    return f"FAIL ({d.get('missing')} missing, {d.get('conflicting')} conflicting)"
def met(ok):
    return "met" if ok else "NOT met"
lead_rps = lead["requests_per_second"]
p99 = lead["latency"]["p99_ms"]
drain_rate = drain["delivered"] / drain_secs if drain_secs else 0
# The issue's targets: SQLite, and PostgreSQL with one node.
pg = store == "postgres"
single_target, batch_target, share_target = (10000, 50000, 0.30) if pg else (20000, 100000, 0.55)
drain_target = (60 if pg else 30) * backlog / 1_000_000
share = lead_rps / ceiling if ceiling else 0
rows = [
    ("HTTP ceiling (GET /capture.js, same connections)", f"{ceiling:,.0f} req/s", "—", ""),
    ("durable single-lead ingest", f"{lead_rps:,.0f} req/s, p50 {lead['latency']['p50_ms']:.1f} ms, p99 {p99:.1f} ms",
     f"≥ {single_target:,} req/s" + ("" if pg else ", p99 ≤ 25 ms"), met(lead_rps >= single_target and (pg or p99 <= 25))),
    ("single-lead ingest / HTTP ceiling", f"{share:.0%}", f"≥ {share_target:.0%}", met(share >= share_target)),
    ("batch ingest (500 per request)", f"{batch['items_per_second']:,.0f} events/s", f"≥ {batch_target:,} events/s",
     met(batch["items_per_second"] >= batch_target)),
    (f"delivery, draining {backlog:,} queued", f"{drain_rate:,.0f} events/s", "≥ 50,000 events/s (one pixel)",
     met(drain_rate >= 50000)),
    ("RSS idle", f"{rss_idle} MB", "≤ 30 MB", met(float(rss_idle) <= 30)),
    (f"RSS with {int(queued):,} queued", f"{rss_queued} MB (store {store_mb} MB on disk)", "≤ 150 MB",
     met(float(rss_queued) <= 150)),
    (f"drain {backlog:,} after the outage", f"{drain_secs:.1f} s" if drain_secs else "—",
     f"≤ {drain_target:.0f} s" if backlog == 1_000_000 else f"≤ {60 if pg else 30} s per 1 M ({drain_target:.1f} s)",
     met(drain_secs is not None and drain_secs <= drain_target)),
    ("delivery check lead / batch / backlog", f"{check(lead.get('delivery'))} / {check(batch.get('delivery'))} / {check(drain)}",
     "every ack exactly once", met(all((x or {}).get("passed") for x in (lead.get("delivery"), batch.get("delivery"), drain)))),
]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
machine = f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM"
head = (f"signalpost {store}, sandbox latency {latency_label} (SANDBOX_LATENCY_MS={latency_ms}): {machine}; "
        f"server, sandbox and loadgen share the cores; load average {load_start} before, {load_end} after")
md = [f"_{head}_", "", "| measure | result | target | |", "|---|---|---|---|"]
md += [f"| {m} | {r} | {t} | {v} |" for m, r, t, v in rows]
extra = (f"outage lasted {released - outage_start:.0f} s (ingest of the backlog at "
         f"{ingest['items_per_second']:,.0f} items/s with every delivery failing); "
         f"RSS after the drain {rss_after} MB; dead conversions {dead}")
md += ["", extra]
text = "\n".join(md) + "\n"
open(f"{out}/table.md", "w").write(text)
json.dump({"store": store, "sandbox_latency_ms": latency_ms, "machine": machine, "load_average_before": load_start, "load_average_after": load_end,
           "backlog": backlog, "http_ceiling_rps": ceiling, "single_lead_share_of_ceiling": share,
           "single_lead_rps": lead_rps, "single_lead_p50_ms": lead["latency"]["p50_ms"],
           "single_lead_p99_ms": p99, "batch_events_per_second": batch["items_per_second"],
           "delivery_events_per_second": drain_rate, "rss_idle_mb": float(rss_idle),
           "rss_queued_mb": float(rss_queued), "queued": int(queued), "rss_after_drain_mb": float(rss_after),
           "store_mb": int(store_mb), "drain_secs": drain_secs, "outage_secs": released - outage_start,
           "dead": int(dead),
           "checks": {"lead": check(lead.get("delivery")), "batch": check(batch.get("delivery")), "backlog": check(drain)}},
          open(f"{out}/table.json", "w"), indent=2)
print()
print(text)
print(f"(results in {out})")
PY
