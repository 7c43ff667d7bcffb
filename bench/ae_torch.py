#!/usr/bin/python3
"""ae_torch.py -- the PyTorch side of bench/ae-train: DSSTNE's MovieLens
autoencoder (sparse input N -> 128 sigmoid with sparseness penalty p=0.5
beta=2 -> N sigmoid, scaled marginal cross-entropy 1/0/1/1 written out,
denoising 0.2, SGD with L2 on weights only, batch 256), same init scheme
(DSSTNE's Xavier: U(-s/2, s/2), s = sqrt(6/(n_in+n_out))), on data of the
same shape as sten's bench (power-law item popularity). Prints one JSON line
with ms per step. --input selects torch.sparse.mm or EmbeddingBag."""
import argparse
import json
import math
import os
import time

import numpy as np
import torch


def make_data(users, items, per_user, seed):
    rng = np.random.default_rng(seed)
    hmax = math.log(items + 10.0) - math.log(10.0)
    rows = []
    for _ in range(users):
        k = per_user // 2 + int(rng.integers(0, per_user + 1))
        cand = (10.0 * np.exp(hmax * rng.random(4 * k)) - 10.0).astype(np.int64)
        cand = cand[cand < items]
        _, first = np.unique(cand, return_index=True)
        rows.append(cand[np.sort(first)][:k])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=26744)
    ap.add_argument("--per-user", type=int, default=144)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input", choices=["embeddingbag", "sparse.mm"], default="embeddingbag")
    ap.add_argument("--text", help="a DSSTNE text file (user<TAB>item:item...) instead of synthetic data")
    ap.add_argument("--predict", type=int, default=0,
                    help="time top-10 with seen items excluded for every user instead")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    H, N, B = 128, a.items, a.batch
    if a.text:
        ids, rows = {}, []
        for line in open(a.text):
            items = [t.split(",")[0] for t in line.rstrip("\n").split("\t", 1)[1].split(":") if t]
            rows.append(np.array([ids.setdefault(t, len(ids)) for t in items], dtype=np.int64))
        N = len(ids)
    else:
        rows = make_data(min(a.users, a.steps * B * 2), N, a.per_user, 1)

    def xavier(n_in, n_out):
        s = math.sqrt(6.0 / (n_in + n_out))
        return ((torch.rand(n_in, n_out) - 0.5) * s).requires_grad_()

    W1, b1 = xavier(N, H), torch.zeros(H, requires_grad=True)
    W2, b2 = xavier(H, N), torch.zeros(N, requires_grad=True)
    alpha, lam, p_den, p_sp, beta = 0.025, 0.0001, 0.2, 0.5, 2.0
    bag = torch.nn.EmbeddingBag(N, H, mode="sum")
    bag.weight = torch.nn.Parameter(W1.detach().clone())

    def step(batch_rows):
        # denoising: drop each input non-zero with p, scale survivors
        # (vectorised over the batch, so Python loops do not count against PyTorch)
        lens = np.array([len(r) for r in batch_rows])
        allr = np.concatenate(batch_rows)
        rowall = np.repeat(np.arange(len(batch_rows)), lens)
        keepm = np.random.random(len(allr)) >= p_den
        flat = torch.from_numpy(allr[keepm])
        rowk = rowall[keepm]
        off = np.concatenate([[0], np.cumsum(np.bincount(rowk, minlength=len(batch_rows)))])
        scale = torch.full((len(flat),), 1.0 / (1.0 - p_den))
        if a.input == "embeddingbag":
            z1 = bag(flat, torch.tensor(off[:-1]), per_sample_weights=scale) + b1
            w_in = bag.weight
        else:
            rowi = torch.from_numpy(rowk)
            X = torch.sparse_coo_tensor(torch.stack([rowi, flat]), scale, (len(batch_rows), N))
            z1 = torch.sparse.mm(X, W1) + b1
            w_in = W1
        a1 = torch.sigmoid(z1)
        a2 = torch.sigmoid(a1 @ W2 + b2)
        t = torch.zeros_like(a2)
        t[torch.from_numpy(rowall), torch.from_numpy(allr)] = 1.0
        eps = 1e-12
        loss = -(t * torch.log(a2.clamp_min(eps)) + (1 - t) * torch.log((1 - a2).clamp_min(eps))).sum()
        rho = a1.mean(0).clamp(1e-6, 0.999999)
        kl = (p_sp * torch.log(p_sp / rho) + (1 - p_sp) * torch.log((1 - p_sp) / (1 - rho))).sum()
        total = (loss + len(batch_rows) * beta * kl) / len(batch_rows)
        params = [w_in, b1, W2, b2]
        for q in params:
            q.grad = None
        total.backward()
        with torch.no_grad():
            for q, decay in zip(params, (lam, 0.0, lam, 0.0)):
                q -= alpha * (q.grad + decay * q)
        return float(loss)

    if a.predict:
        rows = make_data(a.users, N, a.per_user, 1)
        checksum = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for lo in range(0, len(rows), B):
                br = rows[lo:lo + B]
                lens = np.array([len(r) for r in br])
                allr = torch.from_numpy(np.concatenate(br))
                rowall = torch.from_numpy(np.repeat(np.arange(len(br)), lens))
                off = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)[:-1]]))
                a1 = torch.sigmoid(bag(allr, off) + b1)
                # rank the logits: the output sigmoid keeps their order, so
                # PyTorch at its best skips it (1.7x faster here), as sten does
                s2 = torch.addmm(b2, a1, W2)
                s2[rowall, allr] = -float("inf")
                top = torch.topk(s2, 10, dim=1).indices
                checksum += int(top[0, 0])
        sec = time.perf_counter() - t0
        print(json.dumps({"impl": "pytorch-embeddingbag", "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "users": len(rows), "items": N,
                          "k": 10, "seconds": round(sec, 3), "users_per_s": round(len(rows) / sec, 1),
                          "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                          "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}))
        return

    batches = [rows[i * B:(i + 1) * B] for i in range(len(rows) // B)]
    for bt in batches[:2]:
        step(bt)  # warm-up
    t0 = time.perf_counter()
    n = 0
    for bt in batches[2:2 + a.steps]:
        last = step(bt)
        n += 1
    sec = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch-" + a.input, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "batch": B, "items": N, "hidden": H,
                      "steps": n, "ms_per_step": round(sec / n * 1e3, 3),
                      "examples_per_s": round(n * B / sec, 1), "loss": last / B,
                      "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                      "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}))


if __name__ == "__main__":
    main()
