#!/usr/bin/env bash
# The compose topology (deploy/compose.yaml) from binaries, for machines without a
# container engine: real nginx running deploy/nginx/folio.conf in front of two HTTP
# edges (`--roles http`) and one worker (`--roles thumbnailer,indexer`) on PostgreSQL,
# NATS JetStream, s3s-fs (S3) and the Meilisearch stub (no Meilisearch server can be
# installed here; examples/meili_stub_server.rs serves the repository's stub).
#
# Prints PASS/FAIL per check and exits non-zero when any check fails. Every process it
# starts is stopped on exit, whatever happens.
#
# Needs: PostgreSQL on 127.0.0.1:5432 and NATS on 127.0.0.1:4222 (scripts/test.sh starts
# them); installs nginx, docker-compose, jq and promtool (Debian package prometheus)
# where missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/folio-target}"
export PATH="$HOME/.cargo/bin:$PATH"
ADMIN_DB_URL="${FOLIO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
NATS_URL="${FOLIO_TEST_NATS_URL:-nats://127.0.0.1:4222}"

log() { printf '[test-cluster] %s\n' "$*" >&2; }
FAILURES=0
pass() { printf 'PASS %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*"
  FAILURES=$((FAILURES + 1))
}
# A failed precondition ends the run: later checks would only fail in its wake.
die() {
  fail "$*"
  exit 1
}

ensure_tools() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  command -v promtool >/dev/null || missing+=(prometheus) # promtool checks the rules
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v s3s-fs >/dev/null || die "s3s-fs is not installed (scripts/test.sh installs it)"
}

# ---------------------------------------------------------------- state and cleanup
WORK=$(mktemp -d /tmp/folio-cluster.XXXXXX)
chmod 755 "$WORK"
RUN_ID=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
DB_NAME="folio_cluster_$RUN_ID"
PIDS=()
NGINX_STARTED=0

cleanup() {
  local status=$?
  set +e
  if [ "$NGINX_STARTED" = 1 ] && [ -s "$WORK/nginx.pid" ]; then
    kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  fi
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  psql "$ADMIN_DB_URL" -q -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1
  if [ "$status" != 0 ] || [ "$FAILURES" != 0 ]; then
    log "logs kept in $WORK"
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      printf -- '--- last lines of %s\n' "$f" >&2
      tail -n 15 "$f" >&2
    done
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
  local url=$1 what=$2 tries=${3:-120}
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.25
  done
  die "$what did not answer at $url"
}

now_ms() { date +%s%3N; }

ensure_tools

# ---------------------------------------------------------------- binaries
log "building the folio binary and the Meilisearch stub (debug; usually already built)"
cargo build --quiet --bin folio --example meili_stub_server
FOLIO="$CARGO_TARGET_DIR/debug/folio"
STUB="$CARGO_TARGET_DIR/debug/examples/meili_stub_server"
[ -x "$FOLIO" ] || die "no folio binary at $FOLIO"
[ -x "$STUB" ] || die "no Meilisearch stub at $STUB"

# ---------------------------------------------------------------- backing services
psql "$ADMIN_DB_URL" -q -c "create database $DB_NAME" >/dev/null || die "PostgreSQL at $ADMIN_DB_URL"
DATABASE_URL="${ADMIN_DB_URL%/*}/$DB_NAME"

S3_PORT=$(free_port)
S3_ACCESS=cluster-access
S3_SECRET="cluster-secret-$RUN_ID"
mkdir -p "$WORK/s3"
s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS" --secret-key "$S3_SECRET" "$WORK/s3" \
  >"$WORK/s3s-fs.log" 2>&1 &
PIDS+=($!)

MEILI_PORT=$(free_port)
MEILI_KEY="cluster-master-key-$RUN_ID"
"$STUB" "$MEILI_PORT" "$MEILI_KEY" >"$WORK/meili-stub.log" 2>&1 &
PIDS+=($!)

EDGE1_PORT=$(free_port)
EDGE2_PORT=$(free_port)
WORKER_PORT=$(free_port)
GATEWAY_PORT=$(free_port)
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"

# What compose.yaml gives every node, with this run's addresses and prefixes.
node_env=(
  "PATH=$PATH"
  "FOLIO_DATABASE_URL=$DATABASE_URL"
  "FOLIO_JWT_SECRET=cluster-test-secret-$RUN_ID-0123456789abcdef"
  "FOLIO_NATS_URL=$NATS_URL"
  "FOLIO_NATS_STREAM_PREFIX=CLUSTER_${RUN_ID}_"
  "FOLIO_NATS_SUBJECT_PREFIX=cluster-$RUN_ID."
  "FOLIO_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
  "FOLIO_S3_ACCESS_KEY=$S3_ACCESS"
  "FOLIO_S3_SECRET_KEY=$S3_SECRET"
  "FOLIO_S3_BUCKET=cluster-$RUN_ID"
  "FOLIO_S3_REGION=us-east-1"
  "FOLIO_MEILISEARCH_URL=http://127.0.0.1:$MEILI_PORT"
  "FOLIO_MEILISEARCH_KEY=$MEILI_KEY"
  "FOLIO_MEILISEARCH_INDEX=projects_$RUN_ID"
  "FOLIO_PUBLIC_URL=$GATEWAY"
  "FOLIO_TRUSTED_PROXIES=127.0.0.1/32"
  "FOLIO_LOG_FILTER=info"
  "FOLIO_CLUSTER_COOKIE=cluster-test-cookie-of-at-least-32-bytes-$RUN_ID"
  "FOLIO_CLUSTER_ADDR=127.0.0.1:0"
  "FOLIO_CLUSTER_BUCKET=nodes_$RUN_ID"
)

wait_http "http://127.0.0.1:$MEILI_PORT/health" "the Meilisearch stub"

log "migrating (the compose file's one-shot migrate service)"
env -i "${node_env[@]}" "FOLIO_DATA_DIR=$WORK/migrate" "$FOLIO" migrate >"$WORK/migrate.log" 2>&1 ||
  die "folio migrate"
pass "folio migrate on a fresh PostgreSQL database"

start_node() {
  local name=$1 roles=$2
  shift 2
  env -i "${node_env[@]}" "FOLIO_DATA_DIR=$WORK/$name" "$@" "$FOLIO" serve --roles "$roles" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  LAST_PID=$!
}

start_node edge-1 http "FOLIO_ADDR=127.0.0.1:$EDGE1_PORT" "FOLIO_CLUSTER_NODE_NAME=edge-1"
EDGE1_PID=$LAST_PID
start_node edge-2 http "FOLIO_ADDR=127.0.0.1:$EDGE2_PORT" "FOLIO_CLUSTER_NODE_NAME=edge-2"
start_node worker thumbnailer,indexer "FOLIO_OPS_ADDR=127.0.0.1:$WORKER_PORT" "FOLIO_CLUSTER_NODE_NAME=worker"

wait_http "http://127.0.0.1:$EDGE1_PORT/ready" "edge-1"
wait_http "http://127.0.0.1:$EDGE2_PORT/ready" "edge-2"
wait_http "http://127.0.0.1:$WORKER_PORT/ready" "the worker's ops endpoint"
pass "two edges (--roles http) and a worker (--roles thumbnailer,indexer) are ready"

# The three nodes find each other through NATS; `folio cluster status` joins for a
# moment and asks each one.
for _ in $(seq 1 50); do
  env -i "${node_env[@]}" "FOLIO_DATA_DIR=$WORK/cli" "FOLIO_LOG_FILTER=error" "$FOLIO" cluster status \
    >"$WORK/cluster-status.txt" 2>&1 || true
  [ "$(grep -cE '^(edge-1|edge-2|worker) +reachable' "$WORK/cluster-status.txt")" = 3 ] && break
  sleep 0.2
done
cat "$WORK/cluster-status.txt"
[ "$(grep -cE '^(edge-1|edge-2|worker) +reachable' "$WORK/cluster-status.txt")" = 3 ] ||
  die "folio cluster status does not show the three nodes reachable"
pass "folio cluster status shows edge-1, edge-2 and worker reachable"

# ---------------------------------------------------------------- the gateway
mkdir -p "$WORK/nginx"
sed -e "s/server folio-edge-1:8080 /server 127.0.0.1:$EDGE1_PORT /" \
  -e "s/server folio-edge-2:8080 /server 127.0.0.1:$EDGE2_PORT /" \
  -e "s/^    listen 80;/    listen 127.0.0.1:$GATEWAY_PORT;/" \
  deploy/nginx/folio.conf >"$WORK/nginx/folio.conf"
for original in "folio-edge-1:8080" "folio-edge-2:8080" "listen 80;"; do
  ! grep -q "$original" "$WORK/nginx/folio.conf" || die "could not fill '$original' into nginx/folio.conf"
done
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    access_log $WORK/nginx-access.log;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    include $WORK/nginx/folio.conf;
}
EOF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx-t.log" || die "nginx -t rejects deploy/nginx/folio.conf: $(cat "$WORK/nginx-t.log")"
pass "nginx -t accepts deploy/nginx/folio.conf"
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx-stdout.log" 2>&1 &
PIDS+=($!)
NGINX_STARTED=1
wait_http "$GATEWAY/gateway-health" "nginx"

# ---------------------------------------------------------------- the seed flow
api() { # METHOD PATH [curl args…] → the body in $BODY, the status in $STATUS
  local method=$1 path=$2
  shift 2
  STATUS=$(curl -sS -X "$method" -o "$WORK/body" -w '%{http_code}' --max-time 30 "$GATEWAY$path" "$@" || echo 000)
  BODY=$(cat "$WORK/body" 2>/dev/null || true)
}

make_png() { # WIDTH HEIGHT SEED FILE: a small gradient PNG, stdlib only
  python3 - "$@" <<'PY'
import struct, sys, zlib
w, h, seed, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = b"".join(
    b"\x00" + bytes(v for x in range(w) for v in ((x * 3 + seed * 40) % 256, (y * 2 + seed) % 256, (x + y) % 256))
    for y in range(h)
)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(path, "wb").write(png)
PY
}

for i in 1 2 3 4 5; do make_png 640 480 "$i" "$WORK/image-$i.png"; done

WORD="zephyrine$RUN_ID"
EMAIL="operator-$RUN_ID@folio.test"
USERNAME="operator_$RUN_ID"
SEED_STARTED=$(now_ms)

api POST /auth/register -H 'content-type: application/json' \
  -d "{\"username\":\"$USERNAME\",\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}"
body=$BODY
[ "$STATUS" = 201 ] && pass "register through nginx" || die "register through nginx: $STATUS $body"

api POST /auth/login -H 'content-type: application/json' -H 'x-request-id: cluster-login-check' \
  -D "$WORK/login-headers.txt" -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}"
body=$BODY
[ "$STATUS" = 200 ] && pass "login through nginx" || die "login through nginx: $STATUS $body"
ACCESS=$(jq -r .access_token <<<"$body")
AUTH=(-H "authorization: Bearer $ACCESS")
if grep -qi '^x-request-id: cluster-login-check' "$WORK/login-headers.txt"; then
  pass "X-Request-ID passes through the gateway to the node and back"
else
  fail "X-Request-ID was not passed through: $(grep -i x-request-id "$WORK/login-headers.txt" || echo none)"
fi

api PUT /profile/me "${AUTH[@]}" -H 'content-type: application/json' \
  -d '{"name":"Cluster Operator","bio":"runs the gateway","social_links":{"github":"operator"}}'
body=$BODY
[ "$STATUS" = 200 ] && pass "profile update through nginx" || die "profile update: $STATUS $body"

api POST /projects "${AUTH[@]}" -H 'content-type: application/json' \
  -d "{\"title\":\"Gateway $WORD\",\"description\":\"A $WORD project behind nginx\",\"tags\":[\"nginx\",\"cluster\"]}"
body=$BODY
[ "$STATUS" = 201 ] && pass "project created through nginx" || die "create project: $STATUS $body"
PROJECT_ID=$(jq -r '.id // empty' <<<"$body")
[ -n "$PROJECT_ID" ] || die "project answered without an id: $body"

MEDIA_IDS=()
for i in 1 2 3 4 5; do
  api POST /media/upload "${AUTH[@]}" -F "file=@$WORK/image-$i.png;type=image/png" -F "project_id=$PROJECT_ID"
  body=$BODY
  [ "$STATUS" = 201 ] || die "upload $i through nginx: $STATUS $body"
  id=$(jq -r '.file_id // empty' <<<"$body")
  [ -n "$id" ] || die "upload $i answered without a file_id: $body"
  MEDIA_IDS+=("$id")
done
pass "5 images uploaded through nginx"

ready=0
for _ in $(seq 1 240); do
  ready=0
  for id in "${MEDIA_IDS[@]}"; do
    api GET "/media/$id" "${AUTH[@]}"
    body=$BODY
    state=$(jq -r .thumbnail_status <<<"$body" 2>/dev/null || true)
    [ "$state" = failed ] && die "thumbnail of $id failed: $body"
    [ "$state" = ready ] && ready=$((ready + 1))
  done
  [ "$ready" = 5 ] && break
  sleep 0.25
done
[ "$ready" = 5 ] && pass "5 thumbnails made by the worker node" || die "only $ready of 5 thumbnails ready"
THUMB_URL=$(jq -r .thumbnail_url <<<"$body")
case "$THUMB_URL" in
  "$GATEWAY"/*) ;;
  *) die "thumbnail URL $THUMB_URL is not on the gateway" ;;
esac
content_type=$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$THUMB_URL")
[[ "$content_type" == "200 image/"* ]] && pass "thumbnail served through nginx ($content_type)" ||
  fail "thumbnail through nginx: $content_type"

# The public pages through the gateway: the profile links to the project's page.
api GET "/@$USERNAME" -H 'accept: text/html'
if [ "$STATUS" = 200 ] && grep -q 'Cluster Operator' <<<"$BODY"; then
  pass "profile page through nginx"
else
  fail "profile page through nginx: $STATUS"
fi
PAGE_PATH=$(grep -o "href=\"/@$USERNAME/gateway-[^\"]*\"" <<<"$BODY" | head -n1 | cut -d'"' -f2)
api GET "$PAGE_PATH" -H 'accept: text/html'
if [ -n "$PAGE_PATH" ] && [ "$STATUS" = 200 ] && grep -q 'srcset=' <<<"$BODY"; then
  pass "project page through nginx ($PAGE_PATH)"
else
  fail "project page through nginx: '$PAGE_PATH' $STATUS"
fi

found=0
for _ in $(seq 1 120); do
  api GET "/search?query=$WORD&tags=nginx"
  body=$BODY
  if [ "$STATUS" = 200 ] && [ "$(jq -r --arg id "$PROJECT_ID" '[.results[]? | select(.project_id == $id)] | length' <<<"$body")" -gt 0 ]; then
    found=1
    break
  fi
  sleep 0.25
done
SEED_MS=$(($(now_ms) - SEED_STARTED))
[ "$found" = 1 ] && pass "search on an edge finds the project the worker indexed" || die "search never found the project: $STATUS $body"
pass "seed flow through nginx (register → search hit, 5 thumbnails) took ${SEED_MS} ms"

events_status=$(curl -sS -o "$WORK/events.txt" -w '%{http_code} %{content_type}' --max-time 3 \
  "${AUTH[@]}" "$GATEWAY/events" 2>/dev/null || true)
case "$events_status" in
  "200 text/event-stream"*) pass "/events streams through nginx ($events_status)" ;;
  *) fail "/events through nginx: $events_status" ;;
esac

# ---------------------------------------------------------------- failover
kill -9 "$EDGE1_PID"
wait "$EDGE1_PID" 2>/dev/null || true
log "edge-1 SIGKILLed; 200 GETs through nginx"
paths=("/projects/$PROJECT_ID" "/users/$USERNAME" "/search?query=$WORD" "/health")
failed=0
statuses=""
for n in $(seq 1 200); do
  path=${paths[$((n % ${#paths[@]}))]}
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$GATEWAY$path" 2>/dev/null || echo 000)
  if [ "$code" != 200 ]; then
    failed=$((failed + 1))
    statuses="$statuses $path=$code"
  fi
done
FAILOVER="$((200 - failed))/200 GETs answered 200 after SIGKILL of one edge"
[ "$failed" = 0 ] && pass "failover: $FAILOVER" || fail "failover: $FAILOVER (failures:$statuses)"

# The cluster view after the kill: edge-1 is unreachable until its registry entry
# expires (15 s), the other two still answer.
env -i "${node_env[@]}" "FOLIO_DATA_DIR=$WORK/cli" "FOLIO_LOG_FILTER=error" "$FOLIO" cluster status \
  >"$WORK/cluster-status-after-kill.txt" 2>&1 || true
cat "$WORK/cluster-status-after-kill.txt"
if grep -qE '^edge-1 +reachable' "$WORK/cluster-status-after-kill.txt" ||
  [ "$(grep -cE '^(edge-2|worker) +reachable' "$WORK/cluster-status-after-kill.txt")" != 2 ]; then
  fail "folio cluster status after edge-1's SIGKILL"
else
  pass "folio cluster status after the kill: edge-1 not reachable, edge-2 and worker reachable"
fi

# ---------------------------------------------------------------- oversize upload
head -c $((6 * 1024 * 1024)) /dev/urandom >"$WORK/six-mib.bin"
api POST /media/upload "${AUTH[@]}" -F "file=@$WORK/six-mib.bin;type=image/jpeg"
body=$BODY
code=$(jq -r '.code // empty' <<<"$body" 2>/dev/null || true)
message=$(jq -r '.error // empty' <<<"$body" 2>/dev/null || true)
if [ "$STATUS" = 413 ] && [ "$code" = payload_too_large ] && [[ "$message" == *"exceeds"* ]]; then
  pass "a 6 MiB upload through nginx gets Folio's JSON 413 ($message)"
else
  fail "6 MiB upload through nginx: $STATUS $body"
fi

# ---------------------------------------------------------------- client address and rate limit
# nginx appends the peer it saw to X-Forwarded-For and Folio trusts nginx
# (FOLIO_TRUSTED_PROXIES=127.0.0.1/32), so the login throttle keys on the forwarded
# client: five failures lock out 198.51.100.1, not a second client behind the gateway.
bad_login() {
  api POST /auth/login -H 'content-type: application/json' -H "x-forwarded-for: $1" \
    -d "{\"email\":\"$EMAIL\",\"password\":\"not the password\"}"
}
for _ in 1 2 3 4 5; do bad_login 198.51.100.1; done
bad_login 198.51.100.1
first=$STATUS
first_code=$(jq -r '.code // empty' <<<"$BODY" 2>/dev/null || true)
bad_login 203.0.113.9
second=$STATUS
if [ "$first" = 429 ] && [ "$first_code" != rate_limited ] && [ "$second" = 401 ]; then
  pass "behind the gateway the login throttle keys on the forwarded client address"
else
  fail "login throttle behind the gateway: locked-out client got $first, another client got $second (want 429, 401)"
fi

# The gateway's own limit on /auth/ (10 r/s, burst 20) answers in Folio's error shape.
# 60 requests at once overrun the burst however slow the machine is.
mkdir -p "$WORK/rate"
seq 1 60 | xargs -P 30 -I{} curl -s -o "$WORK/rate/{}.json" --max-time 10 "$GATEWAY/auth/verify" || true
limited=$(grep -l '"code":"rate_limited"' "$WORK"/rate/*.json 2>/dev/null | wc -l)
[ "$limited" -gt 0 ] && pass "nginx rate-limits /auth/ ($limited of 60 simultaneous requests got its JSON 429)" ||
  fail "no request to /auth/ was rate limited by the gateway"

# ---------------------------------------------------------------- compose file
if docker-compose --env-file deploy/.env.example -f deploy/compose.yaml config -q 2>"$WORK/compose.log"; then
  pass "docker-compose config accepts deploy/compose.yaml"
else
  fail "docker-compose config: $(cat "$WORK/compose.log")"
fi
if docker-compose --env-file /dev/null -f deploy/compose.yaml config -q >/dev/null 2>&1; then
  fail "deploy/compose.yaml starts without secrets (it must refuse without .env)"
else
  pass "deploy/compose.yaml refuses to render without the secrets from .env"
fi

# ---------------------------------------------------------------- monitoring files
if promtool check rules deploy/monitoring/folio-alerts.yml >"$WORK/promtool.log" 2>&1 &&
  promtool check config --syntax-only deploy/monitoring/prometheus.yml >>"$WORK/promtool.log" 2>&1; then
  pass "promtool accepts the alert rules and the scrape config"
else
  fail "promtool: $(cat "$WORK/promtool.log")"
fi

echo
printf 'failover: %s\n' "$FAILOVER"
printf 'seed flow through nginx: %s ms\n' "$SEED_MS"
if [ "$FAILURES" != 0 ]; then
  printf 'FAIL deploy/test-cluster.sh: %s check(s) failed\n' "$FAILURES"
  exit 1
fi
printf 'PASS deploy/test-cluster.sh\n'
