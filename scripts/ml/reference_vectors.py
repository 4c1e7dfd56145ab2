"""Independent reference for the embedder test: tokenises with the Rust `tokenizers` library, runs the same ONNX
file with python onnxruntime and pools with numpy, so a broken tokenizer or pooling in the TypeScript embedder fails
test/ml/embedder.test.ts. Usage: python3 scripts/ml/reference_vectors.py MODEL_DIR OUT.json
Requires: pip install numpy onnxruntime tokenizers
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

TEXTS = [
    ("query", "I am still waiting on my card?"),
    ("query", "What is the exchange rate for euros?"),
    ("passage", "Héllo wörld, this is a TEST with 12345!"),
    ("passage", "Cards usually arrive within 3-5 working days after you order them in the app."),
]


def main() -> None:
    model_dir, out = sys.argv[1], sys.argv[2]
    spec = json.load(open(f"{model_dir}/embedder.json"))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.enable_truncation(spec["max_length"])
    sess = ort.InferenceSession(f"{model_dir}/{spec['onnx']}", providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rows = []
    for kind, text in TEXTS:
        prefix = spec["query_prefix"] if kind == "query" else spec["passage_prefix"]
        enc = tok.encode(prefix + text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = sess.run(None, feeds)[0][0]
        vec = hidden[0] if spec["pooling"] == "cls" else hidden.mean(axis=0)
        vec = vec / np.linalg.norm(vec)
        rows.append({"kind": kind, "text": text, "ids": enc.ids, "vector": [round(float(x), 7) for x in vec]})
    json.dump({"model": spec["name"], "sha256": spec["sha256"], "pooling": spec["pooling"], "rows": rows}, open(out, "w"))
    print(f"wrote {len(rows)} reference vectors to {out}")


if __name__ == "__main__":
    main()
