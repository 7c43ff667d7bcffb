"""bench/implicit_peer.py — the Python peers of bench/implicit-lightfm.sh:
implicit's ALS and BPR and LightFM (WARP), each fitted on the training part of
a split (DSSTNE text: "user<TAB>item:item..."), then top-K for every user
with the training items excluded, written in sten predict's format so that
`sten evaluate` scores every model the same way. Prints one JSON line per
model with its fit and recommend seconds.

    python implicit_peer.py TRAIN.txt OUTDIR K THREADS
"""
import json
import os
import sys
import time

import numpy as np
import scipy.sparse as sp


def read_dsstne(path):
    users, rows, cols, items = [], [], [], {}
    with open(path) as f:
        for u, line in enumerate(f):
            user, rest = line.rstrip("\n").split("\t")
            users.append(user)
            for it in rest.split(":"):
                it = it.split(",")[0]
                rows.append(u)
                cols.append(items.setdefault(it, len(items)))
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(items)))
    X.sum_duplicates()
    X.data[:] = 1
    return X, users, list(items)


def write_recs(path, users, names, ids, scores):
    with open(path, "w") as f:
        for u, user in enumerate(users):
            parts = [f"{names[i]},{s:.6f}" for i, s in zip(ids[u], scores[u]) if i >= 0]
            f.write(user + "\t" + ":".join(parts) + "\n")


def topk_excluding(S, X, K):
    """Top K of score rows S (users x items) with X's items excluded."""
    S = np.array(S, dtype=np.float32, copy=True)
    S[X.nonzero()] = -np.inf
    ids = np.argpartition(-S, K, axis=1)[:, :K]
    part = np.take_along_axis(S, ids, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(part, order, axis=1)


def main():
    train, out, K, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    X, users, names = read_dsstne(train)
    import implicit
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from lightfm import LightFM

    def run(name, fit, recommend, settings):
        t0 = time.perf_counter()
        fit()
        t1 = time.perf_counter()
        ids, scores = recommend()
        t2 = time.perf_counter()
        write_recs(os.path.join(out, name + ".recs"), users, names, ids, scores)
        print(json.dumps({"model": name, "settings": settings, "fit_s": round(t1 - t0, 3),
                          "recommend_s": round(t2 - t1, 3), "peer": f"implicit {implicit.__version__}, lightfm"}),
              flush=True)

    als = AlternatingLeastSquares(factors=64, regularization=0.05, alpha=2.0, iterations=15,
                                  num_threads=threads, random_state=1)
    run("als", lambda: als.fit(X, show_progress=False),
        lambda: als.recommend(np.arange(X.shape[0]), X, N=K, filter_already_liked_items=True),
        "64 factors, 15 iterations, regularization 0.05, alpha 2")
    bpr = BayesianPersonalizedRanking(factors=64, learning_rate=0.05, regularization=0.001, iterations=100,
                                      num_threads=threads, random_state=1)
    run("bpr", lambda: bpr.fit(X, show_progress=False),
        lambda: bpr.recommend(np.arange(X.shape[0]), X, N=K, filter_already_liked_items=True),
        "64 factors, 100 iterations, learning rate 0.05, regularization 0.001")
    lfm = LightFM(no_components=64, loss="warp", learning_rate=0.05, random_state=1)

    def lfm_recommend():
        S = lfm.user_embeddings @ lfm.item_embeddings.T + lfm.item_biases[None, :]
        return topk_excluding(S, X, K)

    run("lightfm", lambda: lfm.fit(X.tocoo(), epochs=30, num_threads=threads), lfm_recommend,
        "WARP, 64 components, 30 epochs, learning rate 0.05")


if __name__ == "__main__":
    main()
