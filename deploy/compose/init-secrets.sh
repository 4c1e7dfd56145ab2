#!/usr/bin/env bash
# Creates the secret files compose.yaml mounts (random values; existing files are kept). Never commit them.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
umask 077
rand() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# One named key per integration, with only the scopes it needs (docs/security.md); this first one has all three.
[[ -s $dir/api_keys ]] || { printf 'ops:ingest+review+reply:%s' "$(rand)" >"$dir/api_keys"; echo "created $dir/api_keys (send the part after the second colon as: Authorization: Bearer <key>)"; }
[[ -s $dir/postgres_password ]] || rand >"$dir/postgres_password"
[[ -s $dir/database_url ]] || printf 'postgres://copilot:%s@postgres:5432/copilot\n' "$(cat "$dir/postgres_password")" >"$dir/database_url"
[[ -s $dir/grafana_password ]] || { rand | head -c 24 >"$dir/grafana_password"; echo "created $dir/grafana_password (Grafana user: admin)"; }
# Field-encryption keys (docs/security-data.md): one active key plus the blind-index key. Back this file up:
# without it the encrypted customer data cannot be read.
[[ -s $dir/data_keys ]] || printf '{"active":"k1","keys":{"k1":"%s"},"index":"%s"}\n' "$(head -c 32 /dev/urandom | base64)" "$(head -c 32 /dev/urandom | base64)" >"$dir/data_keys"
# The containers run as non-root users that must be able to read the mounted files.
chmod 0644 "$dir"/api_keys "$dir"/postgres_password "$dir"/database_url "$dir"/grafana_password "$dir"/data_keys
