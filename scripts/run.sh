#!/usr/bin/env bash
# Runs the product on embedded defaults (in-process bus, PGlite, in-memory sessions): no services needed.
# Set KAFKA_BROKERS / DATABASE_URL / REDIS_URL / OLLAMA_HOST to use the real parts (see README).
# --demo: also replays Northwind Bank demo traffic (scripts/demo.ts) through the real ingest paths, with a demo
# admin (unless DASHBOARD_ADMIN_EMAIL is set) and a signed social webhook source named "demo".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
demo=0
args=()
for a in "$@"; do
  if [[ $a == --demo ]]; then demo=1; else args+=("$a"); fi
done
# bootstrap.sh reads the positional arguments as its own options: source it with none.
set --
# shellcheck source=bootstrap.sh
source scripts/bootstrap.sh
[[ $demo == 1 ]] || exec bun src/main.ts "${args[@]}"

if [[ -z ${DASHBOARD_ADMIN_EMAIL:-} ]]; then
  export DASHBOARD_ADMIN_EMAIL=demo@northwind.example DASHBOARD_ADMIN_PASSWORD=northwind-demo
  echo "[demo] dashboard sign-in: demo@northwind.example / northwind-demo"
fi
if [[ -z ${SOCIAL_WEBHOOK_SECRETS:-} && -z ${SOCIAL_WEBHOOK_SECRETS_FILE:-} ]]; then
  SOCIAL_WEBHOOK_SECRETS="demo=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  export SOCIAL_WEBHOOK_SECRETS
fi
bun src/main.ts "${args[@]}" &
product=$!
bun scripts/demo.ts --loop &
demo_pid=$!
trap 'kill "$demo_pid" "$product" 2>/dev/null || true; wait "$product" 2>/dev/null || true' EXIT INT TERM
wait "$product"
