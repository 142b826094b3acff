#!/usr/bin/env bash
# The three generated clients, from the committed openapi.json, each driven through the
# whole flow of examples/ against a debug node: Python (openapi-python-client), TypeScript
# (openapi-typescript + openapi-fetch, replies checked against their schemas) and Rust
# (progenitor, the clients/rust crate). A generator warning, a failed call or a reply
# that does not parse into its typed model fails the run (and CI).
set -euo pipefail
cd "$(dirname "$0")/.."

OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/folio-target}"
VENV="${OPENAPI_PYTHON_CLIENT_VENV:-/var/cache/folio-openapi-python-client-$OPENAPI_PYTHON_CLIENT_VERSION}"
DOCUMENT="$PWD/openapi.json"

log() { printf '[clients.sh] %s\n' "$*" >&2; }
timings=()
timed() {
  local what=$1 start=$SECONDS
  shift
  "$@"
  timings+=("$what: $((SECONDS - start)) s")
}

# Tools, pinned: the Python generator in a venv under /var/cache (it brings ruff, which it
# runs on what it writes), the TypeScript ones from examples/typescript's lockfile.
install_tools() {
  if [ ! -x "$VENV/bin/openapi-python-client" ]; then
    log "installing openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
  fi
  local stamp=examples/typescript/node_modules/.folio-lockfile
  if ! cmp -s examples/typescript/package-lock.json "$stamp" 2>/dev/null; then
    log "installing the TypeScript tools (npm ci)"
    (cd examples/typescript && npm ci --no-audit --no-fund --loglevel=error)
    cp examples/typescript/package-lock.json "$stamp"
  fi
}
timed "tools" install_tools

WORK=$(mktemp -d)
NODE=
cleanup() {
  if [ -n "$NODE" ]; then
    kill "$NODE" 2>/dev/null || true
    wait "$NODE" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Fails on any line a generator prints that looks like a warning or an error.
no_warnings() {
  local what=$1 output=$2
  if grep -Eiq 'warn|error|⚠|skipping|unsupported' "$output"; then
    log "$what warned:"
    cat "$output" >&2
    return 1
  fi
}

generate_python() {
  PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate \
    --path "$DOCUMENT" --meta none --output-path "$WORK/python/folio_client" --fail-on-warning \
    >"$WORK/python-generator.log" 2>&1 || { cat "$WORK/python-generator.log" >&2; return 1; }
  no_warnings openapi-python-client "$WORK/python-generator.log"
}

generate_typescript() {
  (cd examples/typescript &&
    ./node_modules/.bin/openapi-typescript "$DOCUMENT" --output generated/folio.d.ts) \
    >"$WORK/typescript-generator.log" 2>&1 || { cat "$WORK/typescript-generator.log" >&2; return 1; }
  no_warnings openapi-typescript "$WORK/typescript-generator.log"
  # The flow type-checks against the generated types: a field the document renamed or
  # retyped fails here, before anything runs.
  (cd examples/typescript && ./node_modules/.bin/tsc --noEmit -p .)
}

build_rust() {
  # clients/rust generates its code from openapi.json in build.rs (progenitor).
  cargo build -q --bin folio --example rust_client
}

timed "generate Python client" generate_python
timed "generate TypeScript client and type-check the flow" generate_typescript
timed "build the node and the Rust client (progenitor)" build_rust

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
mkdir -p "$WORK/data"
# Cheap hashes: the flows are about the contract. The default login throttle per account
# stays (each flow shows its 429), the one per address is raised for three flows.
FOLIO_ADDR="127.0.0.1:$PORT" FOLIO_DATA_DIR="$WORK/data" \
  FOLIO_ARGON2_MEMORY_KIB=64 FOLIO_ARGON2_ITERATIONS=1 \
  FOLIO_LOGIN_MAX_FAILURES_PER_ADDRESS=1000 FOLIO_LOG_FILTER=error \
  "$CARGO_TARGET_DIR/debug/folio" serve >"$WORK/node.log" 2>&1 &
NODE=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$BASE/health" >/dev/null || { log "the node did not start"; cat "$WORK/node.log" >&2; exit 1; }

run_flow() {
  local what=$1
  shift
  log "flow through the $what client"
  if ! "$@"; then
    log "the $what client's flow failed; node log tail:"
    tail -n 30 "$WORK/node.log" >&2 || true
    return 1
  fi
}
timed "Python flow" run_flow Python env PYTHONPATH="$WORK/python" "$VENV/bin/python" examples/python_client.py "$BASE"
timed "TypeScript flow" run_flow TypeScript examples/typescript/node_modules/.bin/tsx examples/typescript/flow.ts "$BASE"
timed "Rust flow" run_flow Rust "$CARGO_TARGET_DIR/debug/examples/rust_client" "$BASE"

log "all three generated clients passed the flow"
for line in "${timings[@]}"; do log "  $line"; done
