"""Sentiment head candidates, third pass (issue 16 item 2): throwaway-free reproduction of docs/models.md's table.

Reads the dump of scripts/ml/dump-sentiment.ts (the trainer's exact rows, raw- and cleaned-text embeddings, the serving
tokenizer's n-grams) and measures candidates the way train:sentiment selects: fit on the inner-train part, score on
the airline rows of the inner validation split (inner_split seed 0, 10 %), then refit on all of train and measure the
airline dev split once. `cv` scores on 5-fold CV over the airline train rows instead (served the cleaned embedding).

    bun scripts/ml/dump-sentiment.ts /tmp/sent-dump
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump split raw raw word      # train emb, serve emb, tokens
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump split cleaned cleaned lex
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump cv raw|cleaned|aug
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump knn
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump mlp HIDDEN ALPHA[,ALPHA]
    python3 scripts/ml/sentiment_candidates.py /tmp/sent-dump tweeteval WEIGHT
"""
import json
import re
import sys
import time
import warnings

import numpy as np
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from train_head import inner_split  # the trainer's own validation mask, so candidates are chosen on the same rows
from sklearn.neural_network import MLPClassifier

warnings.filterwarnings("ignore")
DIM = 384
CLASSES = ["negative", "neutral", "positive"]
D = sys.argv[1]


def load(name):
    rows = [json.loads(line) for line in open(f"{D}/{name}.jsonl", encoding="utf8")]
    emb = {k: np.fromfile(f"{D}/{name}.{k}.f32", dtype=np.float32).reshape(-1, DIM) for k in ("raw", "cleaned")}
    return rows, emb


def tfidf(docs):
    v = TfidfVectorizer(analyzer=lambda d: d, min_df=2, sublinear_tf=True)
    v.fit(docs)
    return v


def score(y, p):
    f = f1_score(y, p, average=None, labels=CLASSES)
    return round(float(np.mean(f)), 4), [round(float(x), 4) for x in f]


EMO = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2B55\u2764\u203C\u2049]")
EMOT = re.compile(r"(?:(?<=\s)|^)(?:[:;=][-']?[)\](\[dDpP/\\|*oO3]|<3|\^_\^)(?=\s|$|[.,!?])")
NEG = re.compile(r"\b(?:not|no|never|nothing|nobody|none|cannot|cant|can't|won't|wont|don't|dont|didn't|didnt|isn't|isnt|wasn't|wasnt|doesn't|doesnt|haven't|havent|hasn't|hasnt|aren't|arent|couldn't|couldnt|wouldn't|wouldnt|shouldn't)\b", re.I)


def lex(text, neg=False):
    """Extra lexical tokens: emoji, emoticons, ! / ? (repeated), shouting, elongation, hashtag, link [, negation scope]."""
    out = ["<e>" + e for e in EMO.findall(text)] + ["<emoticon>" + e.lower().replace("-", "") for e in EMOT.findall(text)]
    checks = [("<!>", r"!"), ("<!!>", r"!{2,}"), ("<?>", r"\?"), ("<??>", r"\?{2,}|[?!]{3,}"), ("<elong>", r"([a-zA-Z])\1\1"), ("<hashtag>", r"#\w+"), ("<url>", r"https?:")]
    out += [tok for tok, rx in checks if re.search(rx, text)]
    if re.search(r"\b[A-Z]{3,}\b", re.sub(r"@\w+|#\w+", "", text)):
        out.append("<caps>")
    if neg:
        for clause in re.split(r"[.,!?;:]", text.lower()):
            m = NEG.search(clause)
            if m:
                out += ["NOT_" + w for w in re.findall(r"[^\W]{2,}", clause[m.end():])[:4]]
    return out


tr, tr_e = load("train")
dv, dv_e = load("dev")
ytr = np.array([r["label"] for r in tr])
wtr = np.array([r["weight"] for r in tr], dtype=float)
xtra = np.array([r["extra"] for r in tr])
ydv = np.array([r["label"] for r in dv])
mask = inner_split(ytr, 0.1)
fit_idx, val_air = ~mask, mask & ~xtra


def toks(rows, kind):
    return [r["ngrams"] + (lex(r["text"], neg=kind == "lexneg") if kind != "word" else []) for r in rows]


def design(v, E, ngr, idx):
    return hstack([csr_matrix(E[idx]), v.transform([n for n, m in zip(ngr, idx) if m])]).tocsr()


def split_lr(train_emb, serve_emb, kind, Cs=(1, 3, 10), extra=None):
    """LR over [embedding | tf-idf]: C on the inner validation (airline rows), then one dev measurement."""
    ntr, ndv = toks(tr, kind), toks(dv, kind)
    Es = [tr_e[k] for k in train_emb.split("+")]

    def fit(idx, C):
        docs = [n for n, m in zip(ntr, idx) if m] + (extra[1] if extra else [])
        v = tfidf(docs)
        X = vstack([design(v, E, ntr, idx) for E in Es] + ([hstack([csr_matrix(extra[0]), v.transform(extra[1])])] if extra else [])).tocsr()
        y = np.concatenate([ytr[idx]] * len(Es) + ([extra[2]] if extra else []))
        w = np.concatenate([wtr[idx] / len(Es)] * len(Es) + ([extra[3]] if extra else []))
        return v, LogisticRegression(C=C, max_iter=5000).fit(X, y, sample_weight=w)

    res = []
    for C in Cs:
        v, m = fit(fit_idx, C)
        res.append((score(ytr[val_air], m.predict(design(v, tr_e[serve_emb], ntr, val_air))), C))
        print(f"  C {C}: val (airline rows) {res[-1][0]}", flush=True)
    (val, C) = max(res, key=lambda r: r[0][0])
    v, m = fit(np.ones(len(ytr), bool), C)
    dev = score(ydv, m.predict(hstack([csr_matrix(dv_e[serve_emb]), v.transform(ndv)]).tocsr()))
    return {"C": C, "val": val, "dev": dev}


def cv_folds():
    rng = np.random.default_rng(1)
    air = np.where(~xtra)[0]
    fold = np.full(len(ytr), -1)
    for lab in CLASSES:
        idx = air[ytr[air] == lab].copy()
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % 5
    return fold


def main():
    cmd = sys.argv[2]
    out = {"cmd": sys.argv[2:]}
    if cmd == "split":
        out.update(split_lr(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif cmd == "tweeteval":
        te, te_e = load("tweeteval")
        w = float(sys.argv[3])
        out.update(split_lr("cleaned", "cleaned", "word", Cs=(1, 3), extra=(te_e["cleaned"], [r["ngrams"] for r in te], np.array([r["label"] for r in te]), np.full(len(te), w))))
    elif cmd == "cv":
        Es = [tr_e[k] for k in {"raw": ["raw"], "cleaned": ["cleaned"], "aug": ["raw", "cleaned"]}[sys.argv[3]]]
        ntr, fold = [r["ngrams"] for r in tr], cv_folds()
        pred = np.empty(len(ytr), dtype=object)
        for k in range(5):
            fit, val = fold != k, fold == k
            v = tfidf([n for n, m in zip(ntr, fit) if m])
            X = vstack([design(v, E, ntr, fit) for E in Es]).tocsr()
            m = LogisticRegression(C=3, max_iter=5000).fit(X, np.concatenate([ytr[fit]] * len(Es)), sample_weight=np.concatenate([wtr[fit] / len(Es)] * len(Es)))
            pred[val] = m.predict(design(v, tr_e["cleaned"], ntr, val))
            print(f"  fold {k}: {score(ytr[val], pred[val])}", flush=True)
        out.update({"cv5_pooled": score(ytr[fold >= 0], pred[fold >= 0]), "folds": [score(ytr[fold == k], pred[fold == k])[0] for k in range(5)]})
    elif cmd == "knn":
        ntr, fold = [r["ngrams"] for r in tr], cv_folds()
        E = tr_e["cleaned"]
        onehot = (ytr[:, None] == np.array(CLASSES)[None, :]).astype(np.float32)
        grid = [(a, tau) for a in (1.0, 0.9, 0.8, 0.7, 0.5) for tau in (0.01, 0.02, 0.05)]
        preds = {g: np.empty(len(ytr), dtype=object) for g in grid}
        for k in range(5):
            fit, val = fold != k, fold == k
            v = tfidf([n for n, m in zip(ntr, fit) if m])
            m = LogisticRegression(C=3, max_iter=5000).fit(design(v, E, ntr, fit), ytr[fit], sample_weight=wtr[fit])
            pl = m.predict_proba(design(v, E, ntr, val))
            sim = E[val] @ E[fit].T
            for a, tau in grid:
                z = sim / tau + np.log(np.clip(wtr[fit], 1e-3, None))[None, :]
                z = np.exp(z - z.max(axis=1, keepdims=True))
                pk = (z / z.sum(axis=1, keepdims=True)) @ onehot[fit]
                preds[(a, tau)][val] = np.array(CLASSES)[(a * pl + (1 - a) * pk).argmax(axis=1)]
            print(f"  fold {k} done", flush=True)
        out["cv5_pooled"] = {f"a={a},tau={tau}": score(ytr[fold >= 0], preds[(a, tau)][fold >= 0]) for a, tau in grid}
    elif cmd == "mlp":
        hidden, alphas = int(sys.argv[3]), [float(a) for a in sys.argv[4].split(",")]
        ntr = [r["ngrams"] for r in tr]
        v = tfidf([n for n, m in zip(ntr, fit_idx) if m])
        X, Xv = design(v, tr_e["cleaned"], ntr, fit_idx), design(v, tr_e["cleaned"], ntr, val_air)
        out["val"] = {}
        for alpha in alphas:
            m = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=alpha, max_iter=1, warm_start=True, batch_size=128, random_state=0)
            t0 = time.time()
            for ep in range(1, 13):
                m.fit(X, ytr[fit_idx], sample_weight=wtr[fit_idx])
                if ep in (2, 3, 4, 6, 8, 12):
                    out["val"][f"alpha={alpha},epochs={ep}"] = score(ytr[val_air], m.predict(Xv))
                    print(f"  alpha {alpha} epoch {ep}: {out['val'][f'alpha={alpha},epochs={ep}']} ({time.time() - t0:.0f}s)", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
