#!/usr/bin/python3
"""fm_torch.py -- the PyTorch side of bench/fm-train: a Factorization Machine
(bias + linear + O(k nnz) pairwise term through EmbeddingBag), Adam with
per-group learning rates, MSE loss, same k and batch as sten's run, on the
same libsvm file. Prints one JSON line with examples/s.
--form: eager (fp32), compile (fp32, torch.compile of the batch's forward and
loss, its backward through AOTAutograd), bf16 (torch.autocast('cpu',
bfloat16): it casts none of the FM's ops, embedding bags and elementwise
ones), compile-bf16; impl "pytorch-<form>". The warm-up epoch (the compile
in it) is not timed; compile_s is its wall time less one timed epoch's.
Inductor gets a fresh cache folder per process (unless
TORCHINDUCTOR_CACHE_DIR is set): a cold compile every run."""
import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time

import numpy as np

_cache = None
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="fm-torch-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _cache

import torch  # noqa: E402  (after the cache folder is set)


def load(path):
    rows, vals, labels = [], [], []
    for line in open(path):
        parts = line.split()
        labels.append(float(parts[0]))
        rows.append([int(p.split(":")[0]) for p in parts[1:]])
        vals.append([float(p.split(":")[1]) for p in parts[1:]])
    return rows, vals, np.array(labels, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--form", choices=["eager", "compile", "bf16", "compile-bf16"], default="eager")
    a = ap.parse_args()
    compiled, bf16 = a.form.startswith("compile"), a.form.endswith("bf16")
    if compiled and not hasattr(torch, "compile"):
        raise SystemExit("torch.compile needs PyTorch 2.x (this is %s)" % torch.__version__)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    rows, vals, y = load(a.train)
    n = len(rows)
    idx = torch.tensor(np.concatenate(rows), dtype=torch.long)
    val = torch.tensor(np.concatenate(vals), dtype=torch.float32)
    lens = np.array([len(r) for r in rows])
    offs = np.concatenate([[0], np.cumsum(lens)])
    lin = torch.nn.EmbeddingBag(a.dim, 1, mode="sum")
    fac = torch.nn.EmbeddingBag(a.dim, a.factors, mode="sum")
    torch.nn.init.normal_(lin.weight, std=0.01)
    torch.nn.init.normal_(fac.weight, std=0.001)
    bias = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([{"params": [bias], "lr": 0.01}, {"params": lin.parameters(), "lr": 0.005},
                            {"params": fac.parameters(), "lr": 0.002}])
    yt = torch.from_numpy(y)

    def batch_loss(i, v, o, seg, y, nb: int):
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            s = fac(i, o, per_sample_weights=v)
            sq = fac.weight[i].pow(2) * v.pow(2).unsqueeze(1)
            q = torch.zeros(nb, a.factors, dtype=sq.dtype).index_add_(0, seg, sq)
            pred = bias + lin(i, o, per_sample_weights=v).squeeze(1) + 0.5 * (s.pow(2) - q).sum(1)
            return ((pred.float() - y) ** 2).mean()

    fwd = torch.compile(batch_loss) if compiled else batch_loss

    def epoch():
        for lo in range(0, n, a.batch):
            hi = min(n, lo + a.batch)
            i = idx[offs[lo]:offs[hi]]
            v = val[offs[lo]:offs[hi]]
            o = torch.from_numpy(offs[lo:hi] - offs[lo])
            seg = torch.repeat_interleave(torch.arange(hi - lo), torch.from_numpy(lens[lo:hi]))
            loss = fwd(i, v, o, seg, yt[lo:hi], hi - lo)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(loss.detach())

    t0 = time.perf_counter()
    epoch()  # warm-up
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        last = epoch()
    sec = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch-" + a.form, "form": a.form, "precision": "bf16" if bf16 else "fp32",
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "examples_per_s": round(a.epochs * n / sec, 1), "seconds": round(sec, 3),
                      "compile_s": round(max(0.0, warm - sec / a.epochs), 2) if compiled else 0.0,
                      "loss": last, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                      "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS")}))


if __name__ == "__main__":
    try:
        main()
    finally:
        if _cache:
            shutil.rmtree(_cache, ignore_errors=True)
