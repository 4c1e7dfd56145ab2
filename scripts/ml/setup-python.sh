#!/usr/bin/env bash
# Creates the training Python (.tools/py) with scripts/ml/requirements.txt from PyPI, once per requirements change,
# and prints the interpreter's path on stdout. Training scripts and the correction-loop test use it through $PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.tools/py"
REQ="$ROOT/scripts/ml/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  printf '%s\n' "$VENV/bin/python"
  exit 0
fi
command -v python3 >/dev/null || { echo "[python] python3 is required to train the classifier heads" >&2; exit 1; }
echo "[python] creating $VENV with $(python3 --version) and scripts/ml/requirements.txt" >&2
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2
printf '%s\n' "$want" >"$STAMP"
printf '%s\n' "$VENV/bin/python"
