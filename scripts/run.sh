#!/usr/bin/env bash
# Runs the product on embedded defaults (in-process bus, PGlite, in-memory sessions): no services needed.
# Set KAFKA_BROKERS / DATABASE_URL / REDIS_URL / OLLAMA_HOST to use the real parts (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bootstrap.sh
source scripts/bootstrap.sh
exec bun src/main.ts "$@"
