#!/usr/bin/env bash
# bench/ingest.sh: durable ingest and delivery figures for signalpost, with one command.
#
# What it does:
#   1. builds the release binaries (`signalpost`, `loadgen`);
#   2. in a fresh temp dir, starts `signalpost sandbox` and `signalpost serve --config` whose only
#      pixel delivers to that sandbox (SQLite, WAL, synchronous=FULL: every 202 is fsynced);
#   3. runs `loadgen` three times against it:
#        lead      single-lead POST /v1/leads flat out (30% of the leads later get a lead_sold), with
#                  delivery running alongside; durable ingest req/s and latency percentiles;
#        batch     POST /v1/batch (500 items each) flat out; batch ingest items/s;
#        drain     batches ingested while the sandbox fails (HTTP 500), then the sandbox recovers and
#                  the backlog is delivered; delivery events/s from the release to the last arrival;
#      after each run loadgen checks with the sandbox that every acknowledged conversion arrived
#      exactly once per event_id (same-payload repeats are reported, not failed);
#   4. prints one table (and keeps every run's JSON in the output dir), then stops everything.
#
# Everything shares this machine: the server, the sandbox (which validates every event it receives)
# and the load tool itself. On a 2-core machine the figures are therefore what the server achieves
# with roughly one core left for it, not its ceiling.
#
# Usage: bench/ingest.sh [-d SECONDS] [-c CONNECTIONS] [-o OUTDIR] [--no-build]
#   -d  duration of the single-lead run (default 10)
#   -c  connections of the single-lead run (default 64)
#   -b  batches in the batch and drain runs (default 400 of 500 items = 200,000 items)
#   -o  where the JSON of each run and the logs go (default: a temp dir, printed at the end)
# Environment: RUST_LOG for the server (default warn).
set -euo pipefail

duration=10
connections=64
batches=400
out=""
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -d) duration="$2"; shift 2 ;;
        -c) connections="$2"; shift 2 ;;
        -b) batches="$2"; shift 2 ;;
        -o) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ $build -eq 1 ]]; then
    cargo build --release -q -p signalpost -p signalpost-loadgen
fi
bin="$root/target/release"
work="$(mktemp -d -t signalpost-bench.XXXXXX)"
out="${out:-$work/out}"
mkdir -p "$out"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work/data"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
    for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "nothing answers at $1" >&2; return 1
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

pixel=CBENCHPIXEL0001
token="bench-token-$RANDOM$RANDOM$RANDOM"
key="bench-key-$RANDOM$RANDOM$RANDOM$RANDOM"
sandbox_port=$(free_port)
server_port=$(free_port)
sandbox="http://127.0.0.1:$sandbox_port"
server="http://127.0.0.1:$server_port"

RUST_LOG=warn "$bin/signalpost" sandbox --listen "127.0.0.1:$sandbox_port" --pixel "$pixel=$token" \
    >"$out/sandbox.log" 2>&1 &
pids+=($!)
wait_http "$sandbox/sandbox/stats"

cat >"$work/signalpost.toml" <<EOF
[server]
listen = "127.0.0.1:$server_port"
data_dir = "$work/data"
api_keys = ["$key"]

[[pixels]]
code = "$pixel"
access_token = "$token"
base_url = "$sandbox"

[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "$pixel"
event = "CompleteRegistration"

[[rules]]
name = "sale"
trigger = "lead_sold"
pixel = "$pixel"
event = "Purchase"
value = "revenue"

# The sandbox is local: no pacing, and a failed batch is retried within a second once it recovers.
[delivery]
requests_per_second = 0
retry_base_ms = 100
retry_cap_ms = 1000
EOF

RUST_LOG="${RUST_LOG:-warn}" "$bin/signalpost" serve --config "$work/signalpost.toml" \
    >"$out/server.log" 2>&1 &
server_pid=$!
pids+=($server_pid)
wait_http "$server/healthz"
sleep 1
rss_idle=$(rss_mb "$server_pid")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

loadgen() { # name, args...
    local name="$1"; shift
    curl -fs -X DELETE "$sandbox/sandbox/events" -o /dev/null
    echo "== $name: loadgen $*" >&2
    "$bin/loadgen" --target "$server" --key "$key" --sandbox "$sandbox" --json "$out/$name.json" "$@" \
        | tee "$out/$name.txt" >&2
}

loadgen lead --mode lead --connections "$connections" --duration "$duration"
loadgen batch --mode batch --batch-size 500 --connections 4 --requests "$batches" --duration 120
loadgen drain --mode batch --batch-size 500 --connections 4 --requests "$batches" --duration 120 --hold-delivery
rss_after=$(rss_mb "$server_pid")

python3 - "$out" "$rss_idle" "$rss_after" "$(nproc)" "$load_before" <<'PY'
import json, sys
out, rss_idle, rss_after, cores, load = sys.argv[1:6]
runs = {n: json.load(open(f"{out}/{n}.json")) for n in ("lead", "batch", "drain")}
def ok(r):
    d = r.get("delivery") or {}
    return "ok" if d.get("passed") else "FAIL (%s missing, %s conflicting)" % (d.get("missing"), d.get("conflicting"))
lead, batch, drain = runs["lead"], runs["batch"], runs["drain"]
rows = [
    ("durable single-lead ingest", "%.0f req/s" % lead["requests_per_second"], ">= 20,000 req/s"),
    ("  latency p50 / p99 / max", "%.2f / %.2f / %.2f ms" % (lead["latency"]["p50_ms"], lead["latency"]["p99_ms"], lead["latency"]["max_ms"]), "p99 <= 25 ms"),
    ("  delivered while ingesting", "%.0f events/s" % (lead["delivery"]["events_per_second"] or 0), ""),
    ("batch ingest (500 per batch)", "%.0f items/s" % batch["items_per_second"], ">= 100,000 events/s"),
    ("  batch latency p50 / p99", "%.2f / %.2f ms" % (batch["latency"]["p50_ms"], batch["latency"]["p99_ms"]), ""),
    ("delivery, draining a backlog", "%.0f events/s (%d events in %.2f s)" % (drain["delivery"]["events_per_second"] or 0, drain["delivery"]["delivered"], drain["delivery"]["window_secs"] or 0), ">= 100,000 events/s"),
    ("server RSS idle / after runs", "%s / %s MB" % (rss_idle, rss_after), ""),
    ("delivery check lead/batch/drain", "%s / %s / %s" % (ok(lead), ok(batch), ok(drain)), "every ack delivered"),
]
print(f"\nsignalpost bench on {cores} cores (server, sandbox and loadgen share them; load average before: {load}); JSON in {out}")
print(f"{'measure':<34} {'result':<40} target")
for m, r, t in rows:
    print(f"{m:<34} {r:<40} {t}")
PY
