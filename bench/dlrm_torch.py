"""bench/dlrm_torch.py — a PyTorch DLRM of the Kaggle shape, written from the
paper's description (Naumov et al. 2019), for side-by-side training speed:
26 EmbeddingBag tables (sum), bottom MLP 13-512-256-64-16, the dot
interaction of the 27 vectors (pairs j < i) after the bottom output, top MLP
-512-256-1, sigmoid + binary cross-entropy, Adam. Batches of random indices
and dense values of the same shapes as sten's run (speed, not parity).
--sparse 1 (default): the tables take sparse gradients and SparseAdam (only
the rows a batch touches, as sten's lazy updates; DLRM's own code uses sparse
embedding gradients), the MLPs Adam; --sparse 0: dense Adam over whole tables.
Prints one JSON line."""
import argparse, json, os, time

import torch
import torch.nn as nn


class DLRM(nn.Module):
    def __init__(self, rows, dim, n_tables, bottom, top, sparse):
        super().__init__()
        self.emb = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum", sparse=sparse)
                                 for _ in range(n_tables))
        for e in self.emb:
            r = (1.0 / rows) ** 0.5
            nn.init.uniform_(e.weight, -r, r)
        layers, n = [], 13
        for m in bottom:
            layers += [nn.Linear(n, m), nn.ReLU()]
            n = m
        self.bottom = nn.Sequential(*layers)
        k = n_tables + 1
        self.li, self.lj = torch.tril_indices(k, k, offset=-1)
        layers, n = [], dim + k * (k - 1) // 2
        for m in top:
            layers += [nn.Linear(n, m), nn.ReLU()]
            n = m
        layers += [nn.Linear(n, 1)]
        self.top = nn.Sequential(*layers)

    def forward(self, dense, idx, offsets):
        x = self.bottom(dense)
        ly = [e(idx[:, t], offsets) for t, e in enumerate(self.emb)]
        t = torch.stack([x] + ly, dim=1)              # B x 27 x D
        z = torch.bmm(t, t.transpose(1, 2))[:, self.li, self.lj]
        return self.top(torch.cat([x, z], dim=1)).squeeze(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--sparse", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = DLRM(a.rows, a.dim, 26, [512, 256, 64, a.dim], [512, 256], bool(a.sparse))
    if a.sparse:
        opts = [torch.optim.SparseAdam(list(m.emb.parameters()), lr=1e-3),
                torch.optim.Adam(list(m.bottom.parameters()) + list(m.top.parameters()), lr=1e-3)]
    else:
        opts = [torch.optim.Adam(m.parameters(), lr=1e-3)]
    loss_fn = nn.BCEWithLogitsLoss()
    B = a.batch
    batches = [(torch.rand(B, 13), torch.randint(0, a.rows, (B, 26)), (torch.rand(B) < 0.25).float())
               for _ in range(16)]
    offsets = torch.arange(B)
    def step(i):
        d, idx, y = batches[i % len(batches)]
        for o in opts:
            o.zero_grad()
        loss = loss_fn(m(d, idx.contiguous(), offsets), y)
        loss.backward()
        for o in opts:
            o.step()
        return loss
    for i in range(10):  # warm-up
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    sec = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch-dlrm-" + ("sparse" if a.sparse else "dense"), "torch": torch.__version__, "threads": a.threads,
                      "omp": os.environ.get("OMP_NUM_THREADS"),
                      "openblas": os.environ.get("OPENBLAS_NUM_THREADS"), "batch": B,
                      "rows": a.rows, "examples_per_s": round(a.steps * B / sec, 1)}))


if __name__ == "__main__":
    main()
