"""bench/linear_peer.py — scikit-learn's linear classifiers on the same libsvm
files as sten's Linear Learner (bench/linear-ctr.sh): SGDClassifier (log loss,
the same epochs over the rows, no early stopping) and LogisticRegression
(lbfgs, C=1), each fit on the training rows; fit-only seconds (reading the
files is not counted) and test AUC / log loss, one JSON line each. Also
scores sten's predictions (--sten SCORES: one probability per test row) with
the same AUC and log loss functions, so both sides are measured alike.

  linear_peer.py TRAIN TEST FEATURE_DIM EPOCHS [--skip-lbfgs] [--sten SCORES]
"""
import json
import resource
import sys
import time

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss, roc_auc_score


def quality(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return {"auc": round(float(roc_auc_score(y, p)), 6), "logloss": round(float(log_loss(y, p)), 6)}


def main():
    args = sys.argv[1:]
    train, test, dim, epochs = args[0], args[1], int(args[2]), int(args[3])
    t0 = time.perf_counter()
    Xt, yt = load_svmlight_file(test, n_features=dim, zero_based=True, dtype=np.float32)
    if "--sten" in args:
        p = np.loadtxt(args[args.index("--sten") + 1], dtype=np.float64, ndmin=1)
        print(json.dumps({"impl": "sten", **quality(yt, p)}), flush=True)
        return
    X, y = load_svmlight_file(train, n_features=dim, zero_based=True, dtype=np.float32)
    # scikit-learn's SGD takes 32-bit indices only; the reader may give 64-bit ones
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    Xt.indices, Xt.indptr = Xt.indices.astype(np.int32), Xt.indptr.astype(np.int32)
    read_s = time.perf_counter() - t0
    peers = [("SGDClassifier log_loss", SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, random_state=0))]
    if "--skip-lbfgs" not in args:
        peers.append(("LogisticRegression lbfgs C=1", LogisticRegression(C=1.0, max_iter=200)))
    for name, m in peers:
        t = time.perf_counter()
        m.fit(X, y)
        fit_s = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # the process so far, data included
        print(json.dumps({"impl": name, "fit_s": round(fit_s, 3), "read_s": round(read_s, 3), "peak_rss_mb": rss,
                          **quality(yt, m.predict_proba(Xt)[:, 1])}), flush=True)


if __name__ == "__main__":
    main()
