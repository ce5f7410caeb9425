#!/usr/bin/env bash
# Runs every test: the core's unit and doc tests, the vector suite natively, the
# same suite in wasmtime against the core compiled to wasm32-unknown-unknown, the
# engine spec, the CLI contract tests, the worker end to end in workerd against a
# real OpenID Provider (oidc-provider, and django-oauth-toolkit as a second one),
# the npm package in Node against the same providers, and the demo's pages in
# headless Chromium. Installs what it
# needs: the wasm32 target, the npm tools (npm ci), the pinned wasm-bindgen-cli and
# worker-build, Debian's chromium and redis-server, and a Python virtualenv with the
# pinned django-oauth-toolkit (python3-venv from apt when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

echo "== the token layer alone (tessera-core without its session feature) builds for wasm32-unknown-unknown"
cargo build -p tessera-core --target wasm32-unknown-unknown --no-default-features --release

echo "== the zero-import wasm32 guest that tests/wasm.rs loads into wasmtime"
./scripts/build-guest.sh

echo "== tests (native, wasmtime, CLI, doc tests; the worker is tested end to end below)"
cargo test --workspace --exclude tessera-worker --exclude tessera-node-binding

echo "== npm tools (workerd via miniflare, oidc-provider, wasm-opt)"
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund

echo "== the second OpenID Provider: django-oauth-toolkit in a virtualenv (target/dot-venv, pinned from PyPI)"
if ! cmp -s tests/dot/requirements.txt target/dot-venv/requirements.txt; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "python3-venv is missing: installing Debian's package"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv \
      || { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; }
  fi
  rm -rf target/dot-venv
  python3 -m venv target/dot-venv
  target/dot-venv/bin/pip install --quiet --disable-pip-version-check -r tests/dot/requirements.txt
  cp tests/dot/requirements.txt target/dot-venv/requirements.txt
fi

echo "== the worker (worker-build with local tools)"
./scripts/build-worker.sh

echo "== the worker end to end: workerd + oidc-provider + an origin, on 127.0.0.1"
node --test --test-concurrency=1 tests/e2e/

echo "== Redis for the tests of many Node processes (Debian's redis-server; the tests start their own on 127.0.0.1)"
if ! command -v redis-server >/dev/null; then
  echo "redis-server is missing: installing Debian's package"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server \
    || { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; }
fi

echo "== the npm package tessera-edge (js/): build, then tests against oidc-provider: Node, the"
echo "   adapters in Express, Hono and Next objects, the packed tarball in a scratch project and workerd"
./scripts/build-npm.sh
timeout 900 node --test --test-concurrency=1 js/test/

echo "== the demo in headless Chromium (Debian's chromium, driven by playwright-core)"
if [ -z "${CHROMIUM_PATH:-}" ] && ! [ -x /usr/bin/chromium ]; then
  echo "chromium is missing: installing Debian's package"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
    || { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
fi
node --test --test-concurrency=1 tests/browser/
