#!/usr/bin/env bash
# The CLI demo: the `tessera` CLI explains verdicts on a bundled Clerk-shaped session
# token (ES256, 60 s lifetime) against a bundled key set. Times are pinned with
# --now so the demo is the same every day.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p tessera-cli
tessera=target/debug/tessera
demo=tests/fixtures/demo
args=(--token "@$demo/session.jwt" --jwks "$demo/jwks.json"
      --issuer https://auth.tessera.example --authorized-party https://app.tessera.example)

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@" || echo "(exit $?)"; }

run "$tessera" inspect "@$demo/session.jwt"
run "$tessera" verify "${args[@]}" --now 1800000030
run "$tessera" verify "${args[@]}" --now 1800000120
run "$tessera" verify --token "@$demo/session.jwt" --jwks "$demo/jwks.json" --issuer https://auth.tessera.example \
    --authorized-party https://other-app.example --now 1800000030 --json
tampered=$(sed 's/\.eyJhenAi/.eyJBenAi/' "$demo/session.jwt")
run "$tessera" verify --token "$tampered" --jwks "$demo/jwks.json" --issuer https://auth.tessera.example --now 1800000030
run "$tessera" verify "${args[@]}" --now 1800000030 --alg RS256
