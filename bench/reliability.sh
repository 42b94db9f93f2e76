#!/usr/bin/env bash
# bench/reliability.sh: signalpost must never lose an acknowledged conversion. One command runs these
# scenarios against the release binary and the sandbox (TikTok's stand-in), each on a fresh data dir:
#
#   kill      repeat K times (-k, default 20): load (single leads or batches, alternating) while the
#             server is SIGKILLed at a random moment and restarted at once on the same data dir; a
#             third of the cycles also make the sandbox hang (deliveries in flight at the kill).
#             Then every conversion any 202 acknowledged must arrive, and no event_id may arrive
#             under two different payloads (GET /sandbox/events); PRAGMA integrity_check must be ok.
#   outage    the sandbox answers HTTP 500, then hangs, for a while under load, then recovers:
#             everything acknowledged arrives, nothing is dead.
#   ratelimit a storm of code 40100 (rate limited) under load: everything arrives, nothing is dead.
#   token     TikTok's side of the token is rotated (the sandbox's POST /sandbox/pixels) under load:
#             signalpost pauses the pixel; the new token is put in the config and SIGHUP reloads it;
#             everything arrives, nothing is dead.
#   diskfull  (root only: a 128 MB tmpfs as data_dir) the disk fills up under load: clients get 503
#             problem+json, the log says why, the server does not crash; space is freed: ingest and
#             delivery resume, every acknowledged conversion arrives, PRAGMA integrity_check is ok.
#
# Usage: bench/reliability.sh [-k KILLS] [-o DIR] [--no-build] [SCENARIO...]   (default: all)
# Results (per scenario: loadgen JSON, acknowledgement files, server logs, summary.md) go to DIR
# (default target/bench/reliability-YYYYmmdd-HHMMSS). Exit code 0 only if every scenario passed.
# Environment: SANDBOX_LATENCY_MS (default 150): the sandbox holds every answer P50[:P99] ms, like
# TikTok; 0 = off. The summary's first line says which latency was used.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kills=20
out=""
build=1
scenarios=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -k) kills="$2"; shift 2 ;;
        -o) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        kill|outage|ratelimit|token|diskfull) scenarios+=("$1"); shift ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
((${#scenarios[@]})) || scenarios=(kill outage ratelimit token diskfull)
out="${out:-$ROOT/target/bench/reliability-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
((build)) && build_release
log "sandbox latency $(sandbox_latency_label), results in $out (load average $(load_avg))"
# A hung request is held 2 s by the sandbox; signalpost gives up after 1 s and retries.
start_sandbox "$out/sandbox.log" --hang-secs 2

# Short delivery timings so a scenario converges in seconds: a killed process's claims are free again
# after 2 s, a hung request is abandoned after 1 s.
FAST_DELIVERY='request_timeout_ms = 1000
lease_ms = 2000
linger_ms = 5'

results=()
record() { # scenario verdict detail
    results+=("| $1 | $2 | $3 |")
    log "$1: $2 — $3"
}

# fresh_server NAME [DATA_DIR]: a new config and data dir for scenario NAME, server started.
fresh_server() {
    local name=$1 data=${2:-$WORK/$1-data}
    CONFIG="$WORK/$name.toml"
    DATA="$data"
    SERVER_LOG="$out/$name-server.log"
    write_config "$CONFIG" "$DATA" "" "$FAST_DELIVERY"
    start_server "$CONFIG" "$SERVER_LOG"
}

# load_bg RUN_ID SECONDS MODE [ARGS...]: loadgen in the background, acknowledgements to RUN_ID.acked;
# sets LOAD_PID.
load_bg() {
    local run_id=$1 secs=$2 mode=$3; shift 3
    # A fixed rate (4,000 items/s either way), not flat out: the point is load at the moment of a
    # kill or a fault, and flat out on a fast machine the kill loop alone sent more events than the
    # sandbox keeps (1,000,000; loadgen then refuses to call the oldest ones missing), and the
    # disk-full scenario refilled its tmpfs after the filler was removed.
    local extra=(--rate 4000)
    [[ "$mode" == batch ]] && extra=(--batch-size 50 --rate 80)
    loadgen --mode "$mode" --connections 16 --threads 1 --duration "$secs" --run-id "$run_id" \
        --acked-out "$out/$run_id.acked" --json "$out/$run_id.json" "${extra[@]}" "$@" \
        >"$out/$run_id.txt" 2>&1 &
    LOAD_PID=$!
    BENCH_PIDS+=("$LOAD_PID")
}
wait_load() { wait "$LOAD_PID" || true; forget_pid "$LOAD_PID"; }

# check_acked PREFIX FILES...: the delivery check over acknowledgement files; prints the summary
# line and returns non-zero on failure.
check_acked() {
    local prefix=$1; shift
    loadgen --check-acked "$@" --sandbox "$SANDBOX" --run-id "$prefix" --verify-timeout 300 \
        --verify-stall 45 --json "$out/$prefix-check.json" | tail -1
    return "${PIPESTATUS[0]}"
}

acked_count() { cat "$@" | wc -l; }

integrity() { # DATA_DIR
    sqlite3 "$1/signalpost.db" 'PRAGMA integrity_check' 2>&1 | head -3 | tr '\n' ' '
}

scenario_kill() {
    fresh_server kill
    local i secs mode at files=()
    for i in $(seq 1 "$kills"); do
        secs=$(python3 -c 'import random; print(round(random.uniform(1.5, 4.0), 2))')
        at=$(python3 -c "import random; print(round(random.uniform(0.2, $secs - 0.2), 2))")
        mode=lead; ((i % 2 == 0)) && mode=batch
        ((i % 3 == 0)) && sandbox_fault hang 1
        load_bg "kl-$i" "$secs" "$mode"
        files+=("$out/kl-$i.acked")
        sleep "$at"
        kill_server
        log "kill $i/$kills: SIGKILL after ${at}s of a ${secs}s $mode load; restarting"
        start_server "$CONFIG" "$SERVER_LOG"
        wait_load
    done
    sandbox_clear_faults
    local acked summary status=0
    acked=$(acked_count "${files[@]}")
    summary=$(check_acked kl "${files[@]}") || status=1
    stop_server
    local integ; integ=$(integrity "$DATA")
    [[ "$integ" == "ok " ]] || status=1
    local verdict=PASS; ((status)) && verdict=FAIL
    record kill "$verdict" "$kills SIGKILLs; $acked conversions acknowledged; ${summary#delivery: }; integrity_check: $integ"
    return $status
}

# A scenario where the destination misbehaves under load and then recovers; FAULT_STEPS run while
# the load runs, then everything must arrive and nothing may be dead.
destination_scenario() { # name steps_function
    local name=$1 steps=$2
    fresh_server "$name"
    load_bg "$name-1" 8 lead
    "$steps"
    wait_load
    sandbox_clear_faults
    local summary status=0 dead
    summary=$(check_acked "$name-1" "$out/$name-1.acked") || status=1
    dead=$(metric signalpost_conversions_dead_total)
    local extra; extra=$(scenario_extra_$name)
    stop_server
    ((dead == 0)) || status=1
    local verdict=PASS; ((status)) && verdict=FAIL
    record "$name" "$verdict" "$(acked_count "$out/$name-1.acked") acknowledged; ${summary#delivery: }; dead $dead; $extra"
    return $status
}

outage_steps() {
    sleep 1
    sandbox_fault http_500 6
    sleep 6
    sandbox_fault hang 4
    sleep 4
}
scenario_extra_outage() { echo "retried $(metric signalpost_conversions_retried_total)"; }

ratelimit_steps() {
    sleep 1
    sandbox_fault rate_limit 8
    sleep 8
}
scenario_extra_ratelimit() { echo "retried $(metric signalpost_conversions_retried_total)"; }

token_steps() {
    sleep 2
    local new="rotated-token-$RANDOM$RANDOM$RANDOM"
    sandbox_rotate "$new"
    log "token: rotated on TikTok's side; signalpost should pause the pixel"
    sleep 4
    TOKEN_PAUSED=$(metric signalpost_conversions_paused_total)
    sed -i "s/^access_token = .*/access_token = \"$new\"/" "$CONFIG"
    kill -HUP "$SERVER_PID"
    log "token: new token in the config, SIGHUP sent"
    TOKEN="$new"
}
scenario_extra_token() { echo "paused before the rotation reached signalpost: ${TOKEN_PAUSED:-0}"; }

scenario_outage() { destination_scenario outage outage_steps; }
scenario_ratelimit() { destination_scenario ratelimit ratelimit_steps; }
scenario_token() {
    TOKEN_PAUSED=0
    local status=0
    destination_scenario token token_steps || status=1
    if ((TOKEN_PAUSED == 0)); then
        record token FAIL "the pixel was never paused: the rotation was not noticed"
        status=1
    fi
    return $status
}

scenario_diskfull() {
    if [[ $EUID -ne 0 ]]; then
        record diskfull SKIPPED "needs root to mount a small tmpfs"
        return 0
    fi
    local mnt="$WORK/tmpfs"
    mkdir -p "$mnt"
    mount -t tmpfs -o size=128m tmpfs "$mnt" || { record diskfull SKIPPED "cannot mount a tmpfs"; return 0; }
    unmount_tmpfs() { umount "$WORK/tmpfs" 2>/dev/null || true; }
    BENCH_CLEANUP_HOOKS+=(unmount_tmpfs)
    fresh_server diskfull "$mnt/data"
    local status=0
    load_bg df-1 1 lead
    wait_load
    # Fill the disk while load runs.
    load_bg df-2 6 lead
    sleep 1
    dd if=/dev/zero of="$mnt/filler" bs=64k status=none 2>/dev/null || true
    log "diskfull: $(df -h "$mnt" | tail -1)"
    wait_load
    # One more request while full, to look at the answer.
    local code ctype
    curl -s -o "$out/diskfull-answer.json" -D "$out/diskfull-answer.headers" -w '%{http_code}' \
        -X POST "$SERVER/v1/leads" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
        -d '{"transaction_id":"df-probe","email":"probe@example.com","ip":"203.0.113.9","user_agent":"probe"}' \
        >"$out/diskfull-code" || true
    code=$(cat "$out/diskfull-code")
    ctype=$(grep -i '^content-type:' "$out/diskfull-answer.headers" | tr -d '\r' | cut -d' ' -f2)
    local alive=yes
    kill -0 "$SERVER_PID" 2>/dev/null || alive=no
    local statuses; statuses=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["statuses"])' "$out/df-2.json")
    rm -f "$mnt/filler"
    log "diskfull: space freed: $(df -h "$mnt" | tail -1)"
    sleep 3
    load_bg df-3 3 lead
    wait_load
    local after; after=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["statuses"])' "$out/df-3.json")
    local summary
    summary=$(check_acked df "$out"/df-[123].acked) || status=1
    stop_server
    local integ; integ=$(integrity "$DATA")
    local logged; logged=$(grep -ci 'disk full\|database or disk is full' "$SERVER_LOG" || true)
    local panics; panics=$(grep -c 'panicked' "$SERVER_LOG" || true)
    [[ "$code" == 503 && "$ctype" == application/problem+json* && "$alive" == yes ]] || status=1
    [[ "$integ" == "ok " && "$panics" == 0 && "$logged" -gt 0 ]] || status=1
    [[ "$after" == *"'202'"* ]] || status=1
    local verdict=PASS; ((status)) && verdict=FAIL
    record diskfull "$verdict" "while full: statuses $statuses, probe HTTP $code $ctype, alive $alive, $logged disk-full log lines, $panics panics; after freeing: $after; ${summary#delivery: }; integrity_check: $integ"
    unmount_tmpfs
    return $status
}

overall=0
for s in "${scenarios[@]}"; do
    log "== scenario $s"
    "scenario_$s" || overall=1
done
{
    echo "_reliability run $(date -u +%Y-%m-%dT%H:%MZ), sandbox latency $(sandbox_latency_label) (SANDBOX_LATENCY_MS=$SANDBOX_LATENCY_MS), $(nproc) cores, load average $(load_avg)_"
    echo
    echo "| scenario | result | details |"
    echo "|---|---|---|"
    printf '%s\n' "${results[@]}"
} | tee "$out/summary.md"
echo "(results in $out)"
exit $overall
