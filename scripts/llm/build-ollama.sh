#!/usr/bin/env bash
# Builds the Ollama server from its Go module (no registry ships an Ollama binary) into a cache folder, once per
# version: a changed OLLAMA_BUILD_VERSION builds again beside the old one.
#
#   scripts/llm/build-ollama.sh <cache-dir>      prints the binary's path on its last line
#
# Needs: Go (the module's go directive may make `go` fetch a newer toolchain from the Go proxy), a C/C++ toolchain
# and the Debian headers nlohmann-json3-dev + libstb-dev (scripts/bootstrap.sh --system installs them). The module
# zip drops ggml's vendor/ folders; miniaudio.h 0.11.x comes from the Go module github.com/gen2brain/malgo.
# The -march flags give the CPU backend AVX2/FMA: without them it is plain x86-64 (~5 tok/s instead of ~22).
set -euo pipefail

VERSION="${OLLAMA_BUILD_VERSION:-0.17.4}"
MALGO_VERSION=v0.11.24
CACHE="${1:?usage: build-ollama.sh <cache-dir>}"
OUT="$CACHE/$VERSION"
BIN="$OUT/bin/ollama"

log() { printf '[ollama-build] %s\n' "$*" >&2; }
die() { printf '[ollama-build] error: %s\n' "$*" >&2; exit 1; }

if [[ -x $BIN && -f $OUT/.complete ]]; then
  printf '%s\n' "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null 2>&1 || die "go is not installed; run scripts/bootstrap.sh --system (Debian golang-go) or install Go >= 1.24"
# Go 1.21+ downloads the toolchain the module's go directive asks for (GOTOOLCHAIN=auto); older ones cannot.
go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
[[ -n $go_minor ]] && ((go_minor >= 21)) || die "$(go env GOVERSION) is too old to build Ollama (needs Go >= 1.21, which fetches the 1.24 toolchain itself)"
command -v g++ >/dev/null 2>&1 || die "g++ is not installed; run scripts/bootstrap.sh --system"
[[ -f /usr/include/nlohmann/json_fwd.hpp ]] || die "nlohmann/json_fwd.hpp is missing; run scripts/bootstrap.sh --system (Debian nlohmann-json3-dev)"
[[ -f /usr/include/stb/stb_image.h ]] || die "stb/stb_image.h is missing; run scripts/bootstrap.sh --system (Debian libstb-dev)"

arch_flags=()
case "$(uname -m)" in
  x86_64 | amd64) grep -qw avx2 /proc/cpuinfo 2>/dev/null && arch_flags=(-march=x86-64-v3) ;;
esac

rm -rf "$OUT"
mkdir -p "$OUT/include/miniaudio" "$OUT/bin"
log "fetching github.com/gen2brain/malgo@$MALGO_VERSION for miniaudio.h"
malgo_dir="$(go mod download -json "github.com/gen2brain/malgo@$MALGO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n $malgo_dir && -f $malgo_dir/miniaudio.h ]] || die "miniaudio.h not found in github.com/gen2brain/malgo@$MALGO_VERSION ($malgo_dir)"
cp "$malgo_dir/miniaudio.h" "$OUT/include/miniaudio/miniaudio.h"

log "building github.com/ollama/ollama@v$VERSION (several minutes on 2 cores; log: $OUT/build.log)"
t0=$SECONDS
if ! CGO_ENABLED=1 GOBIN="$OUT/bin" GOFLAGS="${GOFLAGS:-} -modcacherw" \
  CGO_CPPFLAGS="-I$OUT/include -I/usr/include/stb" \
  CGO_CFLAGS="-O3 ${arch_flags[*]}" CGO_CXXFLAGS="-O3 ${arch_flags[*]}" \
  go install -ldflags "-X github.com/ollama/ollama/version.Version=$VERSION" "github.com/ollama/ollama@v$VERSION" \
  >"$OUT/build.log" 2>&1; then
  tail -n 40 "$OUT/build.log" >&2
  die "go install github.com/ollama/ollama@v$VERSION failed (log: $OUT/build.log)"
fi
[[ -x $BIN ]] || die "go install finished but $BIN is missing"
"$BIN" --version >/dev/null 2>&1 || die "$BIN does not run"
touch "$OUT/.complete"
log "built $BIN in $((SECONDS - t0)) s"
printf '%s\n' "$BIN"
