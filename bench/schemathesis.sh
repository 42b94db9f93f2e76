#!/usr/bin/env bash
# bench/schemathesis.sh: property-based API testing of signalpost with schemathesis (from PyPI),
# driven by the server's own OpenAPI document (`GET /openapi.json`).
#
# What it does:
#   1. installs schemathesis (pinned) into a virtualenv under /tmp, once;
#   2. builds the release binary (skip with --no-build);
#   3. in a fresh temp dir, starts `signalpost serve` in demo mode (no config: SQLite in the temp dir,
#      in-process sandbox) on a free loopback port, and reads the generated API key from
#      signalpost-data/api_key;
#   4. runs schemathesis against every operation of /openapi.json with that bearer key and these
#      checks:
#        not_a_server_error            no 5xx, ever
#        status_code_conformance       only documented statuses
#        content_type_conformance      only documented content types
#        response_schema_conformance   every body matches its documented schema
#        problem_json_errors           every 4xx is application/problem+json with the right status
#                                      (a 422 naming its field): bench/schemathesis_hooks.py
#   5. prints schemathesis' summary, stops the server and exits with schemathesis' status.
#
# Usage: bench/schemathesis.sh [-n MAX_EXAMPLES] [-o OUTDIR] [--seed N] [--no-build] [--bin PATH]
#   -n         test cases per operation and phase (default 100)
#   -o         where the server log and the JUnit report go (default: a temp dir, printed)
#   --seed     schemathesis' random seed, to replay a run
#   --no-build use the binary already in target/release
#   --bin      use this signalpost binary (e.g. target/debug/signalpost)
# Environment: SCHEMATHESIS_VENV (default /tmp/signalpost-schemathesis-venv), RUST_LOG (default warn).
set -euo pipefail

schemathesis_version="4.32.5"
examples=100
out=""
seed=""
build=1
bin=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n) examples="$2"; shift 2 ;;
        -o) out="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --bin) bin="$2"; build=0; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SCHEMATHESIS_VENV:-/tmp/signalpost-schemathesis-venv}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    echo "== installing schemathesis $schemathesis_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi

if [[ $build -eq 1 ]]; then
    echo "== cargo build --release -p signalpost"
    (cd "$root" && cargo build --release -q -p signalpost)
fi
bin="${bin:-$root/target/release/signalpost}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d -t signalpost-schemathesis.XXXXXX)"
out="${out:-$work/out}"
mkdir -p "$out"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work/signalpost-data" "$work/.schemathesis"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Demo mode keeps its data (and the generated key) in ./signalpost-data: run it in the temp dir.
(cd "$work" && SIGNALPOST_LISTEN="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-warn}" exec "$bin" serve) \
    >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    curl -fs -o /dev/null "$base/healthz" && break
    kill -0 "$server_pid" 2>/dev/null || { echo "the server exited; see $out/server.log" >&2; exit 1; }
    sleep 0.1
done
key="$(cat "$work/signalpost-data/api_key")"

echo "== schemathesis $schemathesis_version against $base/openapi.json ($examples examples per operation)"
status=0
# From the temp dir: schemathesis keeps its example database in ./.schemathesis.
(cd "$work" && PYTHONPATH="$root/bench${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    exec "$venv/bin/schemathesis" run "$base/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,problem_json_errors \
    --max-examples "$examples" \
    --workers 2 \
    --no-color \
    --report junit --report-junit-path "$out/junit.xml" \
    ${seed:+--seed "$seed"}) || status=$?

if grep -qiE "panicked|internal error" "$out/server.log"; then
    echo "the server log reports a panic or an internal error:" >&2
    grep -iE "panicked|internal error" "$out/server.log" | head -5 >&2
    status=1
fi
echo "server log and JUnit report: $out"
exit "$status"
