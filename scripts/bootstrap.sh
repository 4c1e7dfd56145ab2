#!/usr/bin/env bash
# Makes the checkout runnable: the pinned Bun (from npm, into .tools/) and the locked dependencies.
#
#   BUN="$(scripts/bootstrap.sh)"        prints the absolute path of bun on stdout (progress goes to stderr)
#   source scripts/bootstrap.sh          same, then exports BUN and puts bun on PATH in the calling shell
#   scripts/bootstrap.sh --system        also apt-get installs what the local services need (see services.sh)
#   scripts/bootstrap.sh --system --chromium   ... plus Debian's chromium for the browser tests
#
# Idempotent and fast when everything is in place: dependencies are only reinstalled when package.json,
# bun.lock or the Bun version change.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: run in a child shell so its `set -e` and variables stay out of the caller's shell.
  __copilot_bun="$(bash "${BASH_SOURCE[0]}" "$@")" || { unset __copilot_bun; return 1; }
  export BUN="$__copilot_bun"
  case ":$PATH:" in *":${BUN%/*}:"*) ;; *) export PATH="${BUN%/*}:$PATH" ;; esac
  unset __copilot_bun
  return 0
fi

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

WITH_SYSTEM=0
WITH_CHROMIUM=0
for arg in "$@"; do
  case $arg in
    --system) WITH_SYSTEM=1 ;;
    --chromium) WITH_CHROMIUM=1 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown option $arg (known: --system --chromium)" ;;
  esac
done

# ---------------------------------------------------------------------------------------------------------------
# System packages (Debian/Ubuntu): only what is missing, one `apt-get update` at most.

APT_UPDATED=0
apt_install() {
  (($#)) || return 0
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      die "missing packages: $*; install them with: sudo apt-get install -y $*"
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages: $* (and apt-get is not available to install them)"
  log "installing with apt-get: $*"
  export DEBIAN_FRONTEND=noninteractive
  if ((APT_UPDATED == 0)); then
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" </dev/null >&2 \
    || die "apt-get install $* failed"
}

has_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# What scripts/llm/build-ollama.sh needs to compile Ollama from its Go module: headers the module zip leaves out,
# and Go itself when none is installed (an old Debian Go fetches the toolchain the module asks for from the Go proxy).
ensure_ollama_build_packages() {
  [[ -f /usr/include/nlohmann/json_fwd.hpp ]] || pkgs+=(nlohmann-json3-dev)
  [[ -f /usr/include/stb/stb_image.h ]] || pkgs+=(libstb-dev)
  { command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]]; } || pkgs+=(golang-go)
}

ensure_system_packages() {
  local pkgs=()
  command -v dpkg-query >/dev/null 2>&1 || die "--system needs a Debian-based system (dpkg/apt-get)"
  [[ -s /etc/ssl/certs/ca-certificates.crt ]] || pkgs+=(ca-certificates)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
  command -v psql >/dev/null 2>&1 || pkgs+=(postgresql-client)
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
  [[ -x /usr/lib/dovecot/imap ]] || pkgs+=(dovecot-imapd)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v java >/dev/null 2>&1 || pkgs+=(default-jdk-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  # npm brings Bun; a C++ toolchain and python3 build the hnswlib-node addon (node-gyp).
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
  # Node headers for node-gyp (npm_config_nodedir=/usr): NodeSource's nodejs has them, Debian's needs libnode-dev.
  [[ -f /usr/include/node/node_api.h ]] || has_pkg libnode-dev || pkgs+=(libnode-dev)
  { command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1; } || pkgs+=(build-essential)
  command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
  command -v flock >/dev/null 2>&1 || pkgs+=(util-linux)
  ensure_ollama_build_packages
  if ((WITH_CHROMIUM)) && ! command -v chromium >/dev/null 2>&1; then pkgs+=(chromium fonts-liberation); fi
  apt_install "${pkgs[@]}"
}

# ---------------------------------------------------------------------------------------------------------------
# Bun from the npm registry (the binary ships inside @oven/bun-linux-<arch>)

bun_version_wanted() {
  local v
  v="$(sed -n 's/^[[:space:]]*"bun":[[:space:]]*"\^\{0,1\}\([0-9][0-9.]*\)".*/\1/p' "$ROOT/package.json" | head -n1)"
  printf '%s\n' "${v:-1.4.5}"
}

bun_platform_package() {
  case "$(uname -m)" in
    x86_64 | amd64)
      if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo bun-linux-x64; else echo bun-linux-x64-baseline; fi ;;
    aarch64 | arm64) echo bun-linux-aarch64 ;;
    *) die "no Bun build for $(uname -m)" ;;
  esac
}

ensure_bun() {
  local version pkg bin
  version="$(bun_version_wanted)"
  pkg="$(bun_platform_package)"
  bin="$TOOLS/node_modules/@oven/$pkg/bin/bun"
  if [[ -x $bin && "$("$bin" --version 2>/dev/null)" == "$version" ]]; then
    BUN="$bin"
    return
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Bun $version (apt-get install -y nodejs npm, or run with --system)"
  log "fetching Bun $version from the npm registry into .tools/"
  mkdir -p "$TOOLS"
  local spec=("bun@$version")
  # The `bun` package only pulls the AVX2 build; older x64 CPUs need the baseline one explicitly.
  [[ $pkg == bun-linux-x64-baseline ]] && spec+=("@oven/$pkg@$version")
  npm i --no-save --ignore-scripts --no-audit --no-fund --loglevel=error --prefix "$TOOLS" "${spec[@]}" </dev/null >&2 \
    || die "npm could not install bun@$version"
  [[ -x $bin ]] || die "Bun binary not found at $bin after npm install"
  [[ "$("$bin" --version)" == "$version" ]] || die "$bin does not report version $version"
  BUN="$bin"
}

# ---------------------------------------------------------------------------------------------------------------
# Project dependencies

deps_stamp() {
  {
    "$BUN" --version
    cat "$ROOT/package.json"
    [[ -f $ROOT/bun.lock ]] && cat "$ROOT/bun.lock"
  } | sha256sum | cut -d' ' -f1
}

ensure_deps() {
  local stamp_file="$ROOT/node_modules/.bootstrap-stamp" stamp
  stamp="$(deps_stamp)"
  if [[ -d $ROOT/node_modules && -f $stamp_file && "$(cat "$stamp_file")" == "$stamp" ]]; then
    return
  fi
  local args=(install)
  if [[ -f $ROOT/bun.lock ]]; then args+=(--frozen-lockfile); else log "no bun.lock yet: installing without --frozen-lockfile"; fi
  log "installing dependencies: bun ${args[*]}"
  # onnxruntime-node would try to download a CUDA add-on; node-gyp cannot download Node headers here.
  # Lifecycle scripts (hnswlib-node's node-gyp build) call `bun` by name: put ours first on PATH.
  if ! (cd "$ROOT" && PATH="${BUN%/*}:$PATH" ONNXRUNTIME_NODE_INSTALL=skip npm_config_nodedir=/usr "$BUN" "${args[@]}" </dev/null >&2); then
    die "bun ${args[*]} failed (if package.json changed, update bun.lock with: bun install)"
  fi
  printf '%s\n' "$stamp" >"$stamp_file"
}

((WITH_SYSTEM)) && ensure_system_packages

# Serialise concurrent bootstraps (test.sh and run.sh started together).
mkdir -p "$TOOLS"
exec 8>"$TOOLS/.bootstrap.lock"
flock -w 900 8 || die "another bootstrap is still running (lock: $TOOLS/.bootstrap.lock)"
ensure_bun
ensure_deps
exec 8>&-

printf '%s\n' "$BUN"
