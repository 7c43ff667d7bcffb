"""bench/dlrm_parity.py — the PyTorch side of bench/dlrm-parity.sh: the
Kaggle-shaped DLRM of bench/dlrm_torch.py trained on the same Criteo-format
rows sten trains on, preprocessed the same way (sten convert --format criteo
--hash-buckets R: dense log(1 + max(x, 0)); each categorical value hashed by
FNV-1a 64 and a 64-bit finaliser into bucket 1 + h % (R - 1), 0 when
empty), with the same optimizer (Adam 1e-3: SparseAdam on the tables, whose
gradients are sparse, as sten's lazy row updates), batch and epochs; then
the test rows scored. Prints one JSON line: test AUC, log loss, train and
scoring seconds.

    python dlrm_parity.py TRAIN.tsv TEST.tsv BUCKETS BATCH EPOCHS THREADS SEED
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from dlrm_torch import DLRM  # noqa: E402

MASK = (1 << 64) - 1


def value_key(s: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in s:
        h = ((h ^ c) * 0x100000001B3) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    return h if h else 1


def read(path, buckets):
    labels, dense, cats = [], [], []
    memo = {}
    with open(path, "rb") as f:
        for line in f:
            fields = line.rstrip(b"\n").split(b"\t")
            labels.append(float(fields[0]))
            dense.append([math.log1p(max(int(x), 0)) if x else 0.0 for x in fields[1:14]])
            row = []
            for x in fields[14:40]:
                if not x:
                    row.append(0)
                    continue
                k = memo.get(x)
                if k is None:
                    k = memo[x] = 1 + value_key(x) % (buckets - 1)
                row.append(k)
            cats.append(row)
    return (torch.tensor(dense, dtype=torch.float32), torch.tensor(cats, dtype=torch.int64),
            torch.tensor(labels, dtype=torch.float32))


def auc(y, p):
    order = np.argsort(p, kind="stable")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    # ties: average ranks
    sp = p[order]
    i = 0
    while i < len(sp):
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        if j > i:
            ranks[order[i:j + 1]] = (i + j + 2) / 2.0
        i = j + 1
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    train, test, buckets, B, epochs, threads, seed = (sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                                      int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    Xd, Xc, y = read(train, buckets)
    Td, Tc, ty = read(test, buckets)
    m = DLRM(buckets, 16, 26, [512, 256, 64, 16], [512, 256], True)
    opts = [torch.optim.SparseAdam(list(m.emb.parameters()), lr=1e-3),
            torch.optim.Adam(list(m.bottom.parameters()) + list(m.top.parameters()), lr=1e-3)]
    loss_fn = nn.BCEWithLogitsLoss()
    n = len(y)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            b = len(idx)
            offsets = torch.arange(b)
            for o in opts:
                o.zero_grad()
            loss = loss_fn(m(Xd[idx], Xc[idx], offsets), y[idx])
            loss.backward()
            for o in opts:
                o.step()
    t_train = time.perf_counter() - t0
    m.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        scores = torch.cat([torch.sigmoid(m(Td[s:s + 4096], Tc[s:s + 4096], torch.arange(len(Td[s:s + 4096]))))
                            for s in range(0, len(ty), 4096)])
    t_score = time.perf_counter() - t0
    p = scores.double().clamp(1e-7, 1 - 1e-7).numpy()
    yt = ty.numpy()
    logloss = float(-(yt * np.log(p) + (1 - yt) * np.log(1 - p)).mean())
    print(json.dumps({"impl": "pytorch-dlrm-sparse-eager", "torch": torch.__version__, "train_rows": n,
                      "test_rows": len(yt), "auc": round(float(auc(yt, p)), 6), "logloss": round(logloss, 6),
                      "train_s": round(t_train, 2), "train_rows_per_s": round(n * epochs / t_train, 1),
                      "score_s": round(t_score, 3), "score_rows_per_s": round(len(yt) / t_score, 1)}), flush=True)


if __name__ == "__main__":
    main()
