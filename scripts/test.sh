#!/usr/bin/env bash
# The whole test suite. Makes sure PostgreSQL and NATS JetStream are running (installing
# and starting them where missing), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# A shared target dir outside the clone keeps CI's clean clones from rebuilding the
# dependency graph every time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/folio-target}"
mkdir -p "$CARGO_TARGET_DIR"

log() { printf '[test.sh] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  local port=$1 what=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 0.5
  done
  log "$what did not come up on port $port"
  return 1
}

apt_install() {
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 5432; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $version"
  # Trust auth on loopback, as on the project machines; a fresh install uses peer/md5.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "folio-test" "$hba" 2>/dev/null; then
    sed -i '1i host all all 127.0.0.1/32 trust # folio-test\nhost all all ::1/128 trust # folio-test' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for_port 5432 PostgreSQL
}

ensure_nats() {
  if port_open 4222; then return 0; fi
  command -v nats-server >/dev/null || apt_install nats-server
  log "starting NATS with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for_port 4222 NATS
}

ensure_s3s_fs() {
  # A real S3 server for the media crate's S3 tests (they fail, never skip, without it).
  export PATH="$HOME/.cargo/bin:$PATH"
  if command -v s3s-fs >/dev/null; then return 0; fi
  log "installing s3s-fs (a few minutes, once)"
  # Its own target dir, so it neither holds nor dirties the workspace build.
  CARGO_TARGET_DIR="${S3S_BUILD_DIR:-/var/cache/s3s-build}" \
    cargo install s3s-fs@0.14.1 --features binary --locked
}

ensure_jpeg_build_tools() {
  # `--features turbojpeg` builds libjpeg-turbo 3 from the turbojpeg crate's vendored
  # sources (Debian 12's libturbojpeg is 2.1, without the tj3 API): that needs cmake and
  # nasm. The default build loads the system's libjpeg-turbo at run time, and its tests
  # check that path against the pure-Rust one: that needs libturbojpeg0.
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v nasm >/dev/null || missing+=(nasm)
  ldconfig -p 2>/dev/null | grep -q 'libturbojpeg\.so\.0' || missing+=(libturbojpeg0)
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

ensure_node() {
  # scripts/clients.sh generates and runs the TypeScript client (npm, pinned by its lockfile).
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  apt_install nodejs npm
}

ensure_axe() {
  # The public pages' browser test (tests/pages_browser.rs) runs axe-core, pinned by
  # tests/browser/package-lock.json.
  [ -f tests/browser/node_modules/axe-core/axe.min.js ] && return 0
  log "installing axe-core (npm ci in tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
}

ensure_chromium() {
  # The operator console's browser test (tests/console_browser.rs) drives Debian's
  # Chromium through chromedriver.
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
  apt_install chromium chromium-driver
}

ensure_postgres
ensure_nats
ensure_s3s_fs
ensure_jpeg_build_tools
ensure_chromium
ensure_node
ensure_axe

export FOLIO_TEST_DATABASE_URL="${FOLIO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export FOLIO_TEST_NATS_URL="${FOLIO_TEST_NATS_URL:-nats://127.0.0.1:4222}"

# Databases left by earlier runs (one per test) are dropped first.
if command -v psql >/dev/null; then
  psql "$FOLIO_TEST_DATABASE_URL" -qAt -c "select datname from pg_database where datname like 'folio_t_%'" 2>/dev/null |
    while read -r db; do psql "$FOLIO_TEST_DATABASE_URL" -q -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true; done
fi

# The hygiene gate: an unformatted tree, modules that import each other in a circle, or
# a clippy warning fail the run before any test.
log "cargo fmt --check, module cycles and cargo clippy -D warnings"
cargo fmt --all --check
python3 scripts/module-cycles.py
# --all-targets builds with the dev-dependencies, which turn on the `bench` feature; the
# served binary (no features) is linted on its own.
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p folio --bin folio -- -D warnings

# Everything with default features (pure-Rust JPEG path), then the media crate again
# with libjpeg-turbo, the fast path release builds use with `--features fast-jpeg`.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --no-fail-fast "$@"
  cargo nextest run -p folio-media --features turbojpeg --all-targets --no-fail-fast "$@"
else
  cargo test --workspace --all-targets --no-fail-fast "$@"
  cargo test -p folio-media --features turbojpeg --all-targets --no-fail-fast "$@"
fi

# The compose topology from binaries behind real nginx (deploy/README.md): uses the
# debug `folio` binary the tests just built.
./deploy/test-cluster.sh
# The API against its own OpenAPI document: Schemathesis on a running embedded node.
./scripts/schemathesis.sh
# Clients generated from the committed openapi.json (Python, TypeScript, Rust), each
# driven through the whole flow against a debug node.
./scripts/clients.sh
