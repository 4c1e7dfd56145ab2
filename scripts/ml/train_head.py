"""Trains a classification head over precomputed features, calibrates it and exports it as ONNX.

Called by scripts/ml/train-head.ts (which computes the features with the product's own embedder, so training and
serving see identical inputs). Requires: pip install numpy scikit-learn onnx onnxruntime

    python3 train_head.py SPEC.json   -> prints progress on stderr and one JSON line of metrics on stdout

SPEC.json: {"dim": D, "train_x": f32 file, "train_y": txt, "dev_x": ..., "dev_y": ..., "out_dir": ...,
            "name": "intent", "candidates": [{"kind": "lr", "C": 10}, {"kind": "mlp", "hidden": 512, "alpha": 1e-4}],
            "refit_all": true, "class_weight": null | "balanced", "metric": "accuracy" | "macro_f1",
            optional "train_w"/"dev_w" (per-row weights), "train_ngrams"/"dev_ngrams" (JSON lines of n-grams)}
The ONNX graph takes `features` [N, D] float32 and returns `logits` [N, C] (already divided by the temperature)
and `probs` [N, C] (softmax of those). Labels are in labels.json in the same order.
"""
import json
import sys
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from scipy.sparse import csr_matrix, hstack
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neural_network import MLPClassifier


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load(spec, split):
    x = np.fromfile(spec[f"{split}_x"], dtype=np.float32).reshape(-1, spec["dim"])
    y = open(spec[f"{split}_y"], encoding="utf8").read().split("\n")[: len(x)]
    toks = None
    if spec.get(f"{split}_ngrams"):
        toks = [json.loads(line) for line in open(spec[f"{split}_ngrams"], encoding="utf8")]
    return x, np.array(y), toks


def fit_tfidf(docs):
    """Vocabulary + idf over n-gram lists made by src/ml/tfidf.ts (the one tokenizer); min_df 2, sublinear tf."""
    v = TfidfVectorizer(analyzer=lambda d: d, min_df=2, sublinear_tf=True)
    v.fit(docs)
    return v


def features(x, toks, vec):
    """Embedding, or embedding | tf-idf when the head also reads word n-grams."""
    if vec is None:
        return x
    return hstack([csr_matrix(x), vec.transform(toks)]).tocsr()


def fit(cand, x, y, class_weight, seed=0, sample_weight=None):
    class_weight = cand.get("class_weight", class_weight)
    if cand["kind"] == "lr":
        m = LogisticRegression(C=cand["C"], max_iter=5000, class_weight=class_weight)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(x, y, sample_weight=sample_weight)
        return m
    else:
        m = MLPClassifier(hidden_layer_sizes=(cand["hidden"],), alpha=cand["alpha"], max_iter=cand.get("epochs", 60), early_stopping=False,
                          learning_rate_init=cand.get("lr", 1e-3), batch_size=128, random_state=seed)
        if class_weight == "balanced":
            # MLPClassifier has no class weights: oversample minority classes to the majority count instead.
            rng = np.random.default_rng(seed)
            labels, counts = np.unique(y, return_counts=True)
            idx = np.concatenate([rng.choice(np.where(y == l)[0], counts.max(), replace=True) for l in labels])
            x, y = x[idx], y[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget is intended
        m.fit(x, y)
    return m


def layers_of(m):
    """(W, b) per layer; a binary model's single output column becomes [0, z] so softmax equals its sigmoid."""
    layers = [(m.coef_.T, m.intercept_)] if isinstance(m, LogisticRegression) else list(zip(m.coefs_, m.intercepts_))
    w, b = layers[-1]
    if w.shape[1] == 1:
        layers[-1] = (np.concatenate([np.zeros_like(w), w], axis=1), np.concatenate([np.zeros_like(b), b]))
    return layers


def logits_of(m, x):
    """Raw class scores of a fitted model, in m.classes_ order (pre-softmax)."""
    layers = layers_of(m)
    h = x
    for i, (w, b) in enumerate(layers):
        h = np.asarray(h @ w) + b
        if i < len(layers) - 1:
            h = np.maximum(0, h)
    return h


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(z, yi, t):
    p = softmax(z / t)
    return -np.log(np.clip(p[np.arange(len(yi)), yi], 1e-12, None)).mean()


def fit_temperature(z, yi):
    """Temperature minimising dev negative log-likelihood (grid then refine)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 200))
    t = grid[np.argmin([nll(z, yi, g) for g in grid])]
    fine = np.linspace(t * 0.9, t * 1.1, 101)
    return float(fine[np.argmin([nll(z, yi, g) for g in fine])])


def ece(p, yi, bins=15):
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs((pred[sel] == yi[sel]).mean() - conf[sel].mean())
    return float(total)


def choose_threshold(p, yi):
    """Confidence below which the head answers "unknown": maximises (right answers kept) - (wrong answers kept) on dev,
    i.e. keep a prediction only when it is more likely right than wrong."""
    conf = p.max(axis=1)
    right = p.argmax(axis=1) == yi
    best_t, best = 0.0, -1e9
    for t in np.linspace(0.0, 0.95, 96):
        keep = conf >= t
        score = right[keep].sum() - (~right[keep]).sum()
        if score > best:
            best_t, best = float(t), score
    keep = conf >= best_t
    return round(best_t, 2), float(keep.mean()), float(right[keep].mean()) if keep.any() else 0.0


def export(m, classes, t, dim, path, vocab_size=0):
    """Builds the ONNX graph by hand (onnx.helper): [Concat tfidf] MatMul/Add[/Relu/MatMul/Add] -> /T -> Softmax."""
    inits, nodes = [], []
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", dim])]
    layers = layers_of(m)
    cur = "features"
    if vocab_size:
        inputs.append(helper.make_tensor_value_info("tfidf", TensorProto.FLOAT, ["N", vocab_size]))
        nodes.append(helper.make_node("Concat", ["features", "tfidf"], ["joined"], axis=1))
        cur = "joined"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{i}"), numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [cur, f"W{i}"], [f"mm{i}"]), helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"])]
        cur = f"z{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"h{i}"]))
            cur = f"h{i}"
    inits.append(numpy_helper.from_array(np.array([t], dtype=np.float32), "T"))
    nodes += [helper.make_node("Div", [cur, "T"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    c = len(classes)
    graph = helper.make_graph(
        nodes, "head",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c]), helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", c])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="support-copilot train_head.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    xtr, ytr, ttr = load(spec, "train")
    xdv, ydv, tdv = load(spec, "dev")
    wtr = np.array([float(v) for v in open(spec["train_w"]).read().split("\n")[: len(xtr)]]) if spec.get("train_w") else None
    if wtr is not None:
        log(f"  sample weights from the data (mean {wtr.mean():.3f})")
    vec = fit_tfidf(ttr) if ttr is not None else None
    ftr, fdv = features(xtr, ttr, vec), features(xdv, tdv, vec)
    if vec is not None:
        log(f"  word 1-2-gram tf-idf: {len(vec.vocabulary_)} terms (min_df 2) concatenated to the embedding")
    cw = spec.get("class_weight")
    metric = spec.get("metric", "accuracy")
    score_fn = (lambda y, p: accuracy_score(y, p)) if metric == "accuracy" else (lambda y, p: f1_score(y, p, average="macro"))
    log(f"{spec['name']}: {len(xtr)} train / {len(xdv)} dev, dim {spec['dim']}, {len(set(ytr))} classes")
    rows = []
    best = None
    for cand in spec["candidates"]:
        t0 = time.time()
        m = fit(cand, ftr, ytr, cw, sample_weight=wtr)
        pred = m.predict(fdv)
        acc, f1 = accuracy_score(ydv, pred), f1_score(ydv, pred, average="macro")
        s = score_fn(ydv, pred)
        rows.append({"candidate": cand, "dev_accuracy": acc, "dev_macro_f1": f1, "secs": time.time() - t0})
        log(f"  {json.dumps(cand):<50} dev acc {acc:.4f}  macro-F1 {f1:.4f}  ({time.time() - t0:.0f}s)")
        if best is None or s > best[0]:
            best = (s, cand, m)
    _, cand, m = best
    classes = list(m.classes_)
    yi = np.array([classes.index(v) for v in ydv])
    z = logits_of(m, fdv)
    t = fit_temperature(z, yi)
    p_raw, p_cal = softmax(z), softmax(z / t)
    threshold, coverage, kept_acc = choose_threshold(p_cal, yi)
    dev = {
        "accuracy": float(accuracy_score(ydv, m.predict(fdv))),
        "macro_f1": float(f1_score(ydv, m.predict(fdv), average="macro")),
        "nll_raw": float(nll(z, yi, 1.0)), "nll_calibrated": float(nll(z, yi, t)),
        "ece_raw": ece(p_raw, yi), "ece_calibrated": ece(p_cal, yi),
        "unknown_threshold": threshold, "coverage_at_threshold": coverage, "accuracy_on_covered": kept_acc,
    }
    log(f"  chose {json.dumps(cand)}; temperature {t:.3f}; ECE {dev['ece_raw']:.4f} -> {dev['ece_calibrated']:.4f}; "
        f"unknown below {threshold:.2f} (covers {coverage:.1%} of dev at {kept_acc:.1%} accuracy)")
    final = m
    if spec.get("refit_all", True):
        log("  refitting the chosen head on train+dev (temperature and threshold kept from the dev fit)")
        all_toks = (ttr + tdv) if vec is not None else None
        vec = fit_tfidf(all_toks) if vec is not None else None
        wall = None
        if wtr is not None:
            wall = np.concatenate([wtr, np.array([float(v) for v in open(spec["dev_w"]).read().split("\n")[: len(xdv)]])])
        final = fit(cand, features(np.concatenate([xtr, xdv]), all_toks, vec), np.concatenate([ytr, ydv]), cw, sample_weight=wall)
        assert list(final.classes_) == classes
    out = spec["out_dir"]
    vocab_size = len(vec.vocabulary_) if vec is not None else 0
    export(final, classes, t, spec["dim"], f"{out}/head.onnx", vocab_size)
    if vec is not None:
        terms = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
        json.dump({"vocab": terms, "idf": [round(float(v), 7) for v in vec.idf_]}, open(f"{out}/tfidf.json", "w"))
    # Round-trip: the ONNX file must reproduce the trainer's own calibrated probabilities.
    sample, sample_toks = xdv[:8], (tdv[:8] if tdv is not None else None)
    want = softmax(logits_of(final, features(sample, sample_toks, vec)) / t)
    sess = ort.InferenceSession(f"{out}/head.onnx", providers=["CPUExecutionProvider"])
    feeds = {"features": sample}
    if vec is not None:
        feeds["tfidf"] = vec.transform(sample_toks).toarray().astype(np.float32)
    got = sess.run(["probs"], feeds)[0]
    err = float(np.abs(got - want).max())
    assert err < 1e-4, f"ONNX round-trip differs from sklearn by {err}"
    sk_pred = [classes[i] for i in final.predict_proba(features(sample, sample_toks, vec)).argmax(axis=1)]
    rt = {"features": sample.round(7).tolist(), "probs": want.round(7).tolist(), "predicted": sk_pred}
    if vec is not None:
        rt["texts"] = spec.get("dev_sample_texts", [])[:8]
        rt["tfidf"] = [{str(j): round(float(v), 6) for j, v in zip(r.indices, r.data)} for r in vec.transform(sample_toks)]
    json.dump(rt, open(f"{out}/roundtrip.json", "w"))
    result = {"name": spec["name"], "chosen": cand, "tfidf_terms": vocab_size, "temperature": t, "classes": classes, "dev": dev,
              "candidates": rows, "refit_all": spec.get("refit_all", True), "roundtrip_max_abs_err": err}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
