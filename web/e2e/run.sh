#!/usr/bin/env bash
# Browser tests of the dashboard: installs the npm dependencies (npm ci),
# type-checks the TypeScript, builds findash (and web/devserver, used only
# while findash does not mount the dashboard itself) and runs web/e2e/*.test.mjs
# in the system's headless chromium (/usr/bin/chromium; never downloaded).
# Screenshots land in web/e2e/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."   # repository root

if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  echo "e2e: ${CHROMIUM_BIN:-/usr/bin/chromium} missing: apt-get install -y chromium" >&2
  exit 1
fi
(cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
(cd web && npx tsc --noEmit -p .)
export FINDASH_BIN="${FINDASH_BIN:-/tmp/findash-e2e}"
export FINDASH_DEVSERVER_BIN="${FINDASH_DEVSERVER_BIN:-/tmp/findash-e2e-devserver}"
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-/tmp/findash-e2e-nats-server}" # region.test.mjs: two regions
go build -o "$FINDASH_BIN" ./cmd/findash
go build -o "$FINDASH_DEVSERVER_BIN" ./web/devserver
go build -o "$NATS_SERVER_BIN" github.com/nats-io/nats-server/v2
cd web && exec node --test --test-concurrency=1 e2e/
