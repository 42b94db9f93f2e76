#!/usr/bin/env bash
# bench/memory.sh: what hostile batch bodies sent with an ingest key cost the server in memory
# (issue 15 item 2). Not a timed benchmark: it prints the server's peak RSS (VmHWM).
#
#   bench/memory.sh                      # build, then every phase on a fresh server
#   bench/memory.sh --no-build -c 20     # the binaries already in target/release
#   SERVER_BIN=/path/to/old/signalpost bench/memory.sh --no-build   # the same against another build
#
# Each phase starts a fresh `signalpost serve` (default embedded SQLite store in a temp dir, the bench
# pixel delivering to a local sandbox), fires C concurrent POST /v1/batch bodies with curl, waits for
# every answer, and reads the server's VmHWM from /proc (the kernel's own peak resident set, so no
# sample can miss a spike; VmRSS is also sampled every 20 ms to show how fast memory came back):
#   tiny16          16 MiB of {"items": [{}, {}, …]} (5.6 million items), with Content-Length;
#   tiny16-chunked  the same body sent chunked, so the server cannot refuse it from its length and
#                   reads it until the limit;
#   tiny-limit      {"items": [{}, …]} just under the batch limit (1.4 million items), read whole,
#                   parsed until item 1,001;
#   fields-limit    a body at the limit that is accepted: leads whose `fields` are at the key limit
#                   (100 small keys each), the costliest shape the limits let through;
#   realistic       1,000 realistic leads (every identifier, a long landing URL, 8 custom fields),
#                   accepted: what an honest full batch costs.
# Options: -c CONCURRENCY (default 20), -o DIR (results; default target/bench/memory-YYYYmmdd-HHMMSS),
#   --no-build. Environment: SERVER_BIN (another build's server), SANDBOX_LATENCY_MS (default 0 here:
#   delivery is not what is measured), RUST_LOG (server, default warn).
set -euo pipefail
export SANDBOX_LATENCY_MS="${SANDBOX_LATENCY_MS:-0}"
source "$(dirname "$0")/lib.sh"

concurrency=20
out=""
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -c) concurrency="$2"; shift 2 ;;
        -o) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
out="${out:-$ROOT/target/bench/memory-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
if ((build)); then
    log "building the release server"
    (cd "$ROOT" && cargo build --release -q -p signalpost)
fi
server_bin="${SERVER_BIN:-$BIN/signalpost}"
[[ -x "$server_bin" ]] || die "no server binary at $server_bin"

# The bodies, written once.
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
mib = 1 << 20
limit = 4 * mib  # BATCH_BODY_LIMIT of this build (an older build may accept more)

def tiny(size):
    n = (size - len('{"items":[]}') + 1) // 3
    return ('{"items":[' + "{}," * (n - 1) + "{}]}").encode()

with open(f"{work}/tiny16.json", "wb") as f:
    f.write(tiny(16 * mib))
with open(f"{work}/tiny-limit.json", "wb") as f:
    f.write(tiny(limit))

# Leads with 100 one-digit keys in fields, as many as fit under the limit (at most 1,000).
def lead(i, run):
    fields = {f"k{k}": k % 10 for k in range(100)}
    return {"lead": {"source": f"{run}-{i}", "fields": fields}}
items, size = [], len('{"items":[]}')
while len(items) < 1000:
    item = json.dumps(lead(len(items), "mem"), separators=(",", ":"))
    if size + len(item) + 1 > limit:
        break
    items.append(item)
    size += len(item) + 1
with open(f"{work}/fields-limit.json", "wb") as f:
    f.write(("{\"items\":[" + ",".join(items) + "]}").encode())

# 1,000 realistic leads (as in tests/api/limits.rs): what an honest full batch costs.
ttclid = "CsQBVhYzqKgB4n3mB2tHkPQhZ8Xo1vW3r7YcF0sLJpa9dT6uE5iN2wqRbG4yKxHmZ1cVfA8oSjD7lU3eP0tIrW9nQbXhMg" * 2
real = {"email": "jennifer.martinez1987@gmail.com", "phone": "+1 (415) 555-0134",
        "ip": "2600:1700:3c60:9a10:8d2f:41e5:b7c3:19a4",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US BytedanceWebview/d8a21c6",
        "landing_url": "https://quotes.example-insurance.com/auto/get-quote?utm_source=tiktok&utm_medium=paid_social&utm_campaign=q4_auto_broad_us&utm_content=video_17&ttclid=E.C.P." + ttclid + "&aid=1233",
        "referrer": "https://www.tiktok.com/", "ttp": "2Yh0cQk8sW3ZqVxF1nLm9TgR7pJd4", "source": "tiktok-auto-q4",
        "fields": {"zip": "94107", "state": "CA", "vehicle_year": 2019, "vehicle_make": "Toyota",
                   "currently_insured": True, "credit": "good", "sub_id": "aff_8812_s3", "lead_price": "12.50"}}
with open(f"{work}/realistic.json", "wb") as f:
    f.write(json.dumps({"items": [{"lead": real} for _ in range(1000)]}, separators=(",", ":")).encode())
PY

log "server $server_bin, $concurrency concurrent bodies per phase, results in $out (load average $(load_avg))"
start_sandbox "$out/sandbox.log"

# phase NAME FILE [CURL ARGS...]: a fresh server, CONCURRENCY concurrent posts of FILE, the peak.
results=()
phase() {
    local name=$1 file=$2; shift 2
    write_config "$WORK/$name.toml" "$WORK/data-$name" ""
    start_server "$WORK/$name.toml" "$out/server-$name.log"
    sleep 1
    local idle; idle=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
    # VmRSS sampled every 20 ms while the requests run (the peak is VmHWM's).
    (while kill -0 "$SERVER_PID" 2>/dev/null; do
        awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || true
        sleep 0.02
    done) >"$out/rss-$name.txt" &
    local sampler=$!
    local started; started=$(now)
    local pids=() i
    for ((i = 0; i < concurrency; i++)); do
        curl -s -o "$out/answer-$name-$i.json" -w '%{http_code}\n' -X POST "$SERVER/v1/batch" \
            -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
            --data-binary "@$file" "$@" >"$out/status-$name-$i.txt" 2>/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    local took; took=$(python3 -c "print(f'{$(now) - $started:.2f}')")
    sleep 0.5
    local peak; peak=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
    local after; after=$(rss_mb "$SERVER_PID")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local statuses; statuses=$(cat "$out"/status-"$name"-*.txt | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
    local body_mb; body_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"$file\") / 1048576:.1f}')")
    log "$name: ${body_mb} MiB × $concurrency → answers ${statuses}in ${took} s; peak RSS (VmHWM) $peak MB (idle $idle MB, after $after MB)"
    results+=("| $name | $body_mb MiB | $concurrency | ${statuses% } | $took s | $idle MB | **$peak MB** | $after MB |")
    stop_server
}

phase tiny16 "$WORK/tiny16.json"
phase tiny16-chunked "$WORK/tiny16.json" -H 'transfer-encoding: chunked'
phase tiny-limit "$WORK/tiny-limit.json"
phase fields-limit "$WORK/fields-limit.json"
phase realistic "$WORK/realistic.json"

{
    echo "server: $server_bin ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') tree), $(nproc) cores, load average $(load_avg)"
    echo
    echo "| phase | body | concurrent | answers | wall | idle RSS | peak RSS (VmHWM) | RSS after |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${results[@]}"
} | tee "$out/memory.md"
