"""Linear-probe accuracy of one encoder on the Banking77 dev split (used by compare-encoders.ts).
Usage: python3 probe_encoders.py XTRAIN.f32 YTRAIN.txt XDEV.f32 YDEV.txt DIM  -> prints one JSON line."""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def main() -> None:
    xtr, ytr, xdv, ydv, dim = sys.argv[1:6]
    dim = int(dim)
    Xtr = np.fromfile(xtr, dtype=np.float32).reshape(-1, dim)
    Xdv = np.fromfile(xdv, dtype=np.float32).reshape(-1, dim)
    Ytr = open(ytr).read().split("\n")[: len(Xtr)]
    Ydv = open(ydv).read().split("\n")[: len(Xdv)]
    res = {}
    for c in (10.0, 100.0):
        clf = LogisticRegression(C=c, max_iter=3000)
        clf.fit(Xtr, Ytr)
        res[f"lr_C{int(c)}"] = float((clf.predict(Xdv) == np.array(Ydv)).mean())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
