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


def save_head(nodes, inputs, inits, c, path):
    """Writes a head graph with the two outputs every head has (logits, probs over c classes), checked, opset 13."""
    graph = helper.make_graph(
        nodes, "head", inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c]), helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", c])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="support-copilot train_head.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


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


_LR_CACHE = {}
_S0 = {}
_DIM = {"dim": 0}


class KnnEnsemble:
    """Logistic regression mixed with a soft k-nearest-neighbour vote over the training embeddings:
    p = a * softmax(z_lr / t_lr) + (1 - a) * softmax(sim / tau + log w) @ onehot(y). The memory is rounded to float16
    (it is stored that way in the ONNX file), so the trainer scores exactly what the service will."""

    def __init__(self, lr, mem, y, w, cand):
        self.lr, self.classes_ = lr, lr.classes_
        self.mem = mem.astype(np.float16).astype(np.float32)
        self.onehot = (np.asarray(y)[:, None] == self.classes_[None, :]).astype(np.float32)
        self.logw = np.log(np.clip(w if w is not None else np.ones(len(mem)), 1e-3, None)).astype(np.float32)
        self.tau, self.a, self.t_lr = float(cand["tau"]), float(cand["a"]), float(cand.get("t_lr", 1.0))
        # Gate: the kNN vote fades to uniform when the nearest training text is less similar than s0 (off-topic text
        # must not borrow the confidence of a far neighbour). s0 is set from in-domain validation similarities.
        self.s0, self.gate_k = float(cand.get("s0", 0.0)), 0.02

    def log_probs(self, x):
        x = np.asarray(x.todense() if hasattr(x, "todense") else x, dtype=np.float32)
        pl = softmax(np.asarray(self.lr.decision_function(x)).reshape(len(x), -1) / self.t_lr) if len(self.classes_) > 2 else None
        if pl is None:
            z = self.lr.decision_function(x)
            pl = softmax(np.stack([np.zeros_like(z), z], axis=1) / self.t_lr)
        sim = x[:, : self.mem.shape[1]] @ self.mem.T
        pk = softmax(sim / self.tau + self.logw) @ self.onehot
        g = 1 / (1 + np.exp(-(sim.max(axis=1, keepdims=True) - self.s0) / self.gate_k))
        pk = g * pk + (1 - g) / pk.shape[1]
        return np.log(np.clip(self.a * pl + (1 - self.a) * pk, 1e-7, None))

    def predict(self, x):
        return self.classes_[self.log_probs(x).argmax(axis=1)]

    def predict_proba(self, x):
        return softmax(self.log_probs(x))


class LrPair:
    """Two logistic regressions averaged in log-probability space: one over all features (embedding | tf-idf), one over
    the embedding alone: log p = w * log_softmax(z_all) + (1 - w) * log_softmax(z_emb). The embedding-only model is
    less confident on rare n-grams; w is chosen on the validation split (w = 1 is the single model)."""

    def __init__(self, full, emb, dim, w):
        self.full, self.emb, self.dim, self.w = full, emb, dim, float(w)
        self.classes_ = full.classes_

    def log_probs(self, x):
        xe = x[:, : self.dim]
        xe = np.asarray(xe.todense() if hasattr(xe, "todense") else xe)
        lf = np.log(softmax(np.asarray(self.full.decision_function(x)).reshape(x.shape[0], -1)))
        le = np.log(softmax(np.asarray(self.emb.decision_function(xe)).reshape(x.shape[0], -1)))
        return self.w * lf + (1 - self.w) * le

    def predict(self, x):
        return self.classes_[self.log_probs(x).argmax(axis=1)]

    def predict_proba(self, x):
        return softmax(self.log_probs(x))


def fit(cand, x, y, class_weight, seed=0, sample_weight=None):
    class_weight = cand.get("class_weight", class_weight)
    if cand["kind"] == "lrpair":
        full = fit({"kind": "lr", "C": cand["C"], "class_weight": class_weight}, x, y, class_weight, seed, sample_weight)
        xe = x[:, : _DIM["dim"]]
        xe = np.asarray(xe.todense() if hasattr(xe, "todense") else xe)
        key = ("emb", id(x), x.shape, cand["C_emb"], class_weight, id(sample_weight))
        if key not in _LR_CACHE:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                _LR_CACHE[key] = LogisticRegression(C=cand["C_emb"], max_iter=5000, class_weight=class_weight).fit(xe, y, sample_weight=sample_weight)
        return LrPair(full, _LR_CACHE[key], _DIM["dim"], cand["w"])
    if cand["kind"] == "lrknn":
        lr = fit({**cand, "kind": "lr"}, x, y, class_weight, seed, sample_weight)
        return KnnEnsemble(lr, np.asarray(x.todense() if hasattr(x, "todense") else x), y, sample_weight, {"s0": _S0.get("s0", 0.0), **cand})
    if cand["kind"] == "lr":
        key = (id(x), x.shape, cand["C"], class_weight, id(sample_weight))
        if key in _LR_CACHE:
            return _LR_CACHE[key]
        m = LogisticRegression(C=cand["C"], max_iter=5000, class_weight=class_weight)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(x, y, sample_weight=sample_weight)
        _LR_CACHE[key] = m
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
    if isinstance(m, (KnnEnsemble, LrPair)):
        return m.log_probs(x)
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
    if isinstance(m, KnnEnsemble):
        return export_knn(m, classes, t, dim, path)
    if isinstance(m, LrPair):
        return export_pair(m, classes, t, dim, path, vocab_size)
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
    save_head(nodes, inputs, inits, c, path)


def export_knn(m, classes, t, dim, path):
    """LR branch and soft-kNN branch mixed in probability space, then log / T -> Softmax. The memory holds float16-rounded
    values stored as float32: a Cast node was not constant-folded by onnxruntime and cost ~10 ms per run."""
    w, b = layers_of(m.lr)[0]
    c = len(classes)
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "W0"), numpy_helper.from_array(b.astype(np.float32), "b0"),
        numpy_helper.from_array(np.array([m.t_lr], dtype=np.float32), "T_lr"),
        numpy_helper.from_array(np.ascontiguousarray(m.mem.T).astype(np.float32), "memT"),
        numpy_helper.from_array(np.array([m.tau], dtype=np.float32), "tau"),
        numpy_helper.from_array(m.logw.astype(np.float32), "logw"),
        numpy_helper.from_array(m.onehot.astype(np.float32), "onehot"),
        numpy_helper.from_array(np.array([m.a], dtype=np.float32), "a"),
        numpy_helper.from_array(np.array([1 - m.a], dtype=np.float32), "one_minus_a"),
        numpy_helper.from_array(np.array([1e-7], dtype=np.float32), "eps"),
        numpy_helper.from_array(np.array([t], dtype=np.float32), "T"),
        numpy_helper.from_array(np.array([m.s0], dtype=np.float32), "s0"),
        numpy_helper.from_array(np.array([m.gate_k], dtype=np.float32), "gate_k"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([1.0 / c], dtype=np.float32), "inv_c"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "W0"], ["mm0"]), helper.make_node("Add", ["mm0", "b0"], ["z0"]),
        helper.make_node("Div", ["z0", "T_lr"], ["zl"]), helper.make_node("Softmax", ["zl"], ["pl"], axis=-1),
        helper.make_node("MatMul", ["features", "memT"], ["sim"]), helper.make_node("Div", ["sim", "tau"], ["simt"]),
        helper.make_node("Add", ["simt", "logw"], ["simw"]), helper.make_node("Softmax", ["simw"], ["att"], axis=-1),
        helper.make_node("MatMul", ["att", "onehot"], ["pk0"]),
        helper.make_node("ReduceMax", ["sim"], ["maxsim"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["maxsim", "s0"], ["gd"]), helper.make_node("Div", ["gd", "gate_k"], ["gz"]),
        helper.make_node("Sigmoid", ["gz"], ["g"]), helper.make_node("Mul", ["pk0", "g"], ["pkg"]),
        helper.make_node("Sub", ["one", "g"], ["ng"]), helper.make_node("Mul", ["ng", "inv_c"], ["pku"]),
        helper.make_node("Add", ["pkg", "pku"], ["pk"]),
        helper.make_node("Mul", ["pl", "a"], ["pla"]), helper.make_node("Mul", ["pk", "one_minus_a"], ["pka"]),
        helper.make_node("Add", ["pla", "pka"], ["pmix"]), helper.make_node("Max", ["pmix", "eps"], ["pclip"]),
        helper.make_node("Log", ["pclip"], ["lp"]), helper.make_node("Div", ["lp", "T"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    save_head(nodes, [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", dim])], inits, c, path)


def export_pair(m, classes, t, dim, path, vocab_size):
    """Both regressions in one graph: [features|tfidf] -> LogSoftmax * w, features -> LogSoftmax * (1 - w), summed, / T."""
    (wf, bf), (we, be) = layers_of(m.full)[0], layers_of(m.emb)[0]
    c = len(classes)
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", dim])]
    nodes, cur = [], "features"
    if vocab_size:
        inputs.append(helper.make_tensor_value_info("tfidf", TensorProto.FLOAT, ["N", vocab_size]))
        nodes.append(helper.make_node("Concat", ["features", "tfidf"], ["joined"], axis=1))
        cur = "joined"
    inits = [
        numpy_helper.from_array(wf.astype(np.float32), "Wf"), numpy_helper.from_array(bf.astype(np.float32), "bf"),
        numpy_helper.from_array(we.astype(np.float32), "We"), numpy_helper.from_array(be.astype(np.float32), "be"),
        numpy_helper.from_array(np.array([m.w], dtype=np.float32), "w"), numpy_helper.from_array(np.array([1 - m.w], dtype=np.float32), "one_minus_w"),
        numpy_helper.from_array(np.array([t], dtype=np.float32), "T"),
    ]
    nodes += [
        helper.make_node("MatMul", [cur, "Wf"], ["mmf"]), helper.make_node("Add", ["mmf", "bf"], ["zf"]),
        helper.make_node("LogSoftmax", ["zf"], ["lf"], axis=-1), helper.make_node("Mul", ["lf", "w"], ["lfw"]),
        helper.make_node("MatMul", ["features", "We"], ["mme"]), helper.make_node("Add", ["mme", "be"], ["ze"]),
        helper.make_node("LogSoftmax", ["ze"], ["le"], axis=-1), helper.make_node("Mul", ["le", "one_minus_w"], ["lew"]),
        helper.make_node("Add", ["lfw", "lew"], ["lp"]), helper.make_node("Div", ["lp", "T"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    save_head(nodes, inputs, inits, c, path)


def expand(cands):
    """A candidate with list-valued fields stands for their grid: {"C": [5, 20], "tau": [0.01]} -> 2 candidates."""
    out = []
    for c in cands:
        keys = [k for k, v in c.items() if isinstance(v, list)]
        if not keys:
            out.append(c)
            continue
        k = keys[0]
        out += expand([{**c, k: v} for v in c[k]])
    return out


def inner_split(y, frac, seed=0):
    """Deterministic stratified validation mask carved out of the training rows (selection never sees dev)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), bool)
    for label in sorted(set(y)):
        idx = np.where(y == label)[0]
        rng.shuffle(idx)
        mask[idx[: max(1, round(len(idx) * frac))]] = True
    return mask


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    _DIM["dim"] = spec["dim"]
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
    inner = float(spec.get("inner_val") or 0)
    if inner:
        # Hyper-parameters, temperature and threshold are chosen on a validation part of TRAIN; dev is only measured.
        mask = inner_split(ytr, inner)
        sel_tr, sel_x, sel_y, sel_w = ftr[~mask], ftr[mask], ytr[mask], (wtr[~mask] if wtr is not None else None)
        sel_ytr = ytr[~mask]
        log(f"  selection on an inner validation split of train: {int((~mask).sum())} fit / {int(mask.sum())} val")
    else:
        sel_tr, sel_x, sel_y, sel_w, sel_ytr = ftr, fdv, ydv, wtr, ytr
    where = "val" if inner else "dev"
    if any(c["kind"] == "lrknn" for c in expand(spec["candidates"])):
        a_ = np.asarray(sel_x.todense() if hasattr(sel_x, "todense") else sel_x)[:, : spec["dim"]]
        b_ = np.asarray(sel_tr.todense() if hasattr(sel_tr, "todense") else sel_tr)[:, : spec["dim"]]
        _S0["s0"] = float(np.quantile((a_ @ b_.T).max(axis=1), 0.02))
        log(f"  kNN gate: nearest-neighbour similarity below {_S0['s0']:.3f} (2nd percentile in-domain) fades the vote")
    for cand in expand(spec["candidates"]):
        t0 = time.time()
        m = fit(cand, sel_tr, sel_ytr, cw, sample_weight=sel_w)
        pred = m.predict(sel_x)
        acc, f1 = accuracy_score(sel_y, pred), f1_score(sel_y, pred, average="macro")
        s = score_fn(sel_y, pred)
        rows.append({"candidate": cand, f"{where}_accuracy": acc, f"{where}_macro_f1": f1, "dev_accuracy": acc, "dev_macro_f1": f1, "secs": time.time() - t0})
        log(f"  {json.dumps(cand):<70} {where} acc {acc:.4f}  macro-F1 {f1:.4f}  ({time.time() - t0:.0f}s)")
        if best is None or s > best[0]:
            best = (s, cand, m)
    _, cand, m = best
    classes = list(m.classes_)
    yi_sel = np.array([classes.index(v) for v in sel_y])
    z_sel = logits_of(m, sel_x)
    t = fit_temperature(z_sel, yi_sel)
    threshold, _, _ = choose_threshold(softmax(z_sel / t), yi_sel)
    if inner:
        log("  refitting the chosen candidate on all of train, measuring dev")
        m = fit(cand, ftr, ytr, cw, sample_weight=wtr)
        assert list(m.classes_) == classes
    yi = np.array([classes.index(v) for v in ydv])
    z = logits_of(m, fdv)
    p_raw, p_cal = softmax(z), softmax(z / t)
    conf = p_cal.max(axis=1)
    keep = conf >= threshold
    right = p_cal.argmax(axis=1) == yi
    coverage, kept_acc = float(keep.mean()), float(right[keep].mean()) if keep.any() else 0.0
    pred_dev = np.array(classes)[z.argmax(axis=1)]
    dev = {
        "accuracy": float(accuracy_score(ydv, pred_dev)),
        "macro_f1": float(f1_score(ydv, pred_dev, average="macro")),
        "nll_raw": float(nll(z, yi, 1.0)), "nll_calibrated": float(nll(z, yi, t)),
        "ece_raw": ece(p_raw, yi), "ece_calibrated": ece(p_cal, yi),
        "unknown_threshold": threshold, "coverage_at_threshold": coverage, "accuracy_on_covered": kept_acc,
        "selected_on": "inner validation split of train (10%)" if inner else "dev",
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
