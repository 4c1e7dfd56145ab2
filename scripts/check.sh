#!/usr/bin/env bash
# Static checks run by scripts/test.sh before the tests (and by hand: `bun run check`):
# the strict tsconfig with `tsc --noEmit`, then Biome's linter (biome.json). Exit 1 when either fails.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUN="${BUN:-$(command -v bun)}"
[[ -n $BUN ]] || { echo "[check] bun is not on PATH (source scripts/bootstrap.sh)" >&2; exit 2; }

status=0
echo "[check] tsc --noEmit" >&2
"$BUN" x tsc --noEmit -p . >&2 || { echo "[check] typecheck failed" >&2; status=1; }
echo "[check] biome lint" >&2
"$BUN" x biome lint --max-diagnostics=50 --diagnostic-level=error . >&2 || { echo "[check] lint failed" >&2; status=1; }
exit "$status"
