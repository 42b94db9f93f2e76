# bench/lib.sh: shared by the bench scripts (sourced, not run). Starts the sandbox and signalpost
# servers as background processes it remembers, and stops every one of them when the script exits,
# however it exits (the EXIT trap), as well as any PostgreSQL schema it created.
#
# Variables the caller may read: ROOT, BIN (release binaries), WORK (temp dir), SANDBOX (URL),
# SANDBOX_PID, SERVER (URL), SERVER_PID, PIXEL, TOKEN, KEY, SANDBOX_LATENCY_MS.
#
# SANDBOX_LATENCY_MS (environment, default 150): how long the sandbox holds every Events API answer,
# `P50[:P99]` in milliseconds (`signalpost sandbox --latency-ms`); 0 turns it off. Real TikTok
# answers in 100–300 ms, and whatever depends on time (leases, batching, drains, shutdown) must be
# measured against that, not against a 1 ms loopback.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release"
PG_URL_DEFAULT="postgres://postgres@127.0.0.1:5432/test"
PIXEL=CBENCHPIXEL0001
TOKEN="bench-token-$RANDOM$RANDOM$RANDOM"
KEY="bench-key-$(od -An -N16 -tx1 /dev/urandom | tr -d " \n")"
WORK="$(mktemp -d -t signalpost-bench.XXXXXX)"
BENCH_PIDS=()
BENCH_SCHEMAS=()
BENCH_CLEANUP_HOOKS=()
SERVER_PID=""
SANDBOX_LATENCY_MS="${SANDBOX_LATENCY_MS:-150}"

bench_cleanup() {
    local pid hook schema
    for pid in "${BENCH_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for hook in "${BENCH_CLEANUP_HOOKS[@]}"; do "$hook" || true; done
    for schema in "${BENCH_SCHEMAS[@]}"; do
        PGOPTIONS="--client-min-messages=warning" psql "${PG_URL:-$PG_URL_DEFAULT}" -qc \
            "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

build_release() {
    log "building release binaries (signalpost, loadgen)"
    (cd "$ROOT" && cargo build --release -q -p signalpost -p signalpost-loadgen)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL [SECONDS]: until URL answers 2xx.
wait_http() {
    local deadline=$((SECONDS + ${2:-60}))
    while ((SECONDS < deadline)); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.05
    done
    return 1
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }

# sandbox_latency_label: SANDBOX_LATENCY_MS as a report reads it ("150 ms", "p50 100 ms / p99
# 300 ms", "off").
sandbox_latency_label() {
    case "$SANDBOX_LATENCY_MS" in
        0 | 0:0) echo "off" ;;
        *:*) echo "p50 ${SANDBOX_LATENCY_MS%%:*} ms / p99 ${SANDBOX_LATENCY_MS#*:} ms" ;;
        *) echo "$SANDBOX_LATENCY_MS ms" ;;
    esac
}

# start_sandbox LOG [ARGS...]: the sandbox with the bench pixel and SANDBOX_LATENCY_MS; sets SANDBOX
# and SANDBOX_PID. A sandbox that exits at once (e.g. a bad SANDBOX_LATENCY_MS) fails the script
# with its own message.
start_sandbox() {
    local logfile=$1; shift
    [[ "$SANDBOX_LATENCY_MS" =~ ^[0-9]+(:[0-9]+)?$ ]] \
        || die "SANDBOX_LATENCY_MS must be P50 or P50:P99 in milliseconds (e.g. 150 or 100:300; 0 = off), got '$SANDBOX_LATENCY_MS'"
    local port; port=$(free_port)
    SANDBOX="http://127.0.0.1:$port"
    RUST_LOG=warn "$BIN/signalpost" sandbox --listen "127.0.0.1:$port" --pixel "$PIXEL=$TOKEN" \
        --latency-ms "$SANDBOX_LATENCY_MS" "$@" >"$logfile" 2>&1 &
    SANDBOX_PID=$!
    BENCH_PIDS+=("$SANDBOX_PID")
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null "$SANDBOX/sandbox/stats"; do
        kill -0 "$SANDBOX_PID" 2>/dev/null || die "the sandbox exited: $(tail -3 "$logfile")"
        ((SECONDS < deadline)) || die "the sandbox did not start (see $logfile)"
        sleep 0.05
    done
}

# sandbox_fault KIND SECONDS | sandbox_clear_faults | sandbox_clear_events | sandbox_rotate TOKEN
sandbox_fault() {
    curl -fs -o /dev/null -X POST "$SANDBOX/sandbox/faults" -H 'content-type: application/json' \
        -d "{\"kind\":\"$1\",\"seconds\":$2}" || die "the sandbox refused fault $1"
}
sandbox_clear_faults() { curl -fs -o /dev/null -X DELETE "$SANDBOX/sandbox/faults"; }
sandbox_clear_events() { curl -fs -o /dev/null -X DELETE "$SANDBOX/sandbox/events"; }
sandbox_rotate() {
    curl -fs -o /dev/null -X POST "$SANDBOX/sandbox/pixels" -H 'content-type: application/json' \
        -d "{\"code\":\"$PIXEL\",\"token\":\"$1\"}" || die "the sandbox refused the new token"
}
sandbox_accepted() { curl -fs "$SANDBOX/sandbox/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted_events"])'; }

# pg_fresh_url: creates a fresh schema on PG_URL (dropped at exit); sets PG_SCHEMA, and DB_URL to a
# URL whose search_path is that schema. (Not in a subshell: the schema must be remembered.)
pg_fresh_url() {
    local base=${PG_URL:-$PG_URL_DEFAULT}
    command -v psql >/dev/null || die "PostgreSQL runs need psql"
    PG_SCHEMA="sp_bench_$(date +%s)_$$_$RANDOM"
    PGOPTIONS="--client-min-messages=warning" psql "$base" -qAtc "CREATE SCHEMA $PG_SCHEMA" >/dev/null \
        || die "cannot create a schema on $base"
    BENCH_SCHEMAS+=("$PG_SCHEMA")
    local sep='?'
    case "$base" in *\?*) sep='&' ;; esac
    DB_URL="$base${sep}options=-csearch_path%3D$PG_SCHEMA"
}

# pg_sql SQL: runs SQL in the fresh schema, prints the result unaligned.
pg_sql() {
    PGOPTIONS="--client-min-messages=warning -csearch_path=$PG_SCHEMA" psql "${PG_URL:-$PG_URL_DEFAULT}" -qAtc "$1"
}

# write_config PATH DATA_DIR DATABASE_URL(or "") [EXTRA_DELIVERY_LINES]: one server's config with
# the bench pixel delivering to the sandbox; sets SERVER (URL) from a fresh port.
write_config() {
    local path=$1 data=$2 url=$3 extra=${4:-}
    local port; port=$(free_port)
    SERVER="http://127.0.0.1:$port"
    local db_line=""
    [[ -n "$url" ]] && db_line="database_url = \"$url\""
    cat >"$path" <<EOF
[server]
listen = "127.0.0.1:$port"
data_dir = "$data"
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

# The sandbox is local: no pacing towards it, and retries come within a second, so an outage of
# minutes is compressed into seconds (see bench/README.md).
[delivery]
requests_per_second = 0
retry_base_ms = 100
retry_cap_ms = 1000
$extra
EOF
}

# start_server CONFIG LOG: `signalpost serve` on CONFIG (appending to LOG); sets SERVER_PID.
# SERVER_BIN runs another build's server (an A/B against the previous build) beside this build's
# sandbox and load tool.
start_server() {
    RUST_LOG="${RUST_LOG:-warn}" "${SERVER_BIN:-$BIN/signalpost}" serve --config "$1" >>"$2" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    wait_http "$SERVER/healthz" 120 || die "the server did not start (see $2)"
}

# forget_pid PID: a process that has been waited for is no longer ours to stop (its id may be reused).
forget_pid() {
    local keep=() pid
    for pid in "${BENCH_PIDS[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
    BENCH_PIDS=("${keep[@]}")
}

# stop_server: SIGTERM and wait (graceful).
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget_pid "$SERVER_PID"
    SERVER_PID=""
}

# kill_server: SIGKILL and wait (a crash).
kill_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget_pid "$SERVER_PID"
    SERVER_PID=""
}

# metric NAME: the sum of a Prometheus series over its labels at $SERVER/metrics (0 when absent).
metric() {
    curl -fs "$SERVER/metrics" | awk -v name="$1" '
        $1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%d\n", sum }'
}

# loadgen ARGS...: the load tool against $SERVER with the bench key.
loadgen() { "$BIN/loadgen" --target "$SERVER" --key "$KEY" "$@"; }
