#!/usr/bin/python3
"""ae_torch.py -- the PyTorch side of bench/ae-train and bench/ae-predict:
DSSTNE's MovieLens autoencoder (sparse input N -> 128 sigmoid with
sparseness penalty p=0.5 beta=2 -> N sigmoid, scaled marginal cross-entropy
1/0/1/1 written out, denoising 0.2, SGD with L2 on weights only, batch 256),
same init scheme (DSSTNE's Xavier: U(-s/2, s/2), s = sqrt(6/(n_in+n_out))),
on data of the same shape as sten's bench (power-law item popularity).
Prints one JSON line with ms per step (or users/s with --predict 1).

--input selects torch.sparse.mm or EmbeddingBag. --form selects how PyTorch
runs it, each its own row (impl "pytorch-<input>-<form>"):
  eager         fp32, op by op (the only form PyTorch 1.x had)
  compile       fp32, torch.compile (Inductor: forward+loss, and with it the
                backward through AOTAutograd; the SGD update compiled apart)
  bf16          eager under torch.autocast('cpu', dtype=torch.bfloat16)
  compile-bf16  both
Warm-up steps (the compile among them) are not timed: compile_s is the
warm-up's wall time less what those steps take once compiled. Inductor gets a
fresh cache folder per process (unless TORCHINDUCTOR_CACHE_DIR is set), so
compile_s is a cold compile every run."""
import argparse
import contextlib
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np

_cache = None
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="ae-torch-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _cache

import torch  # noqa: E402  (after the cache folder is set)

FORMS = ["eager", "compile", "bf16", "compile-bf16"]


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


def graphs():
    """Graphs Dynamo has compiled so far (a recompile adds one)."""
    try:
        from torch._dynamo.utils import counters
        return int(counters["stats"]["unique_graphs"])
    except Exception:  # PyTorch 1.x has no Dynamo
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=26744)
    ap.add_argument("--per-user", type=int, default=144)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input", choices=["embeddingbag", "sparse.mm"], default="embeddingbag")
    ap.add_argument("--form", choices=FORMS, default="eager")
    ap.add_argument("--text", help="a DSSTNE text file (user<TAB>item:item...) instead of synthetic data")
    ap.add_argument("--predict", type=int, default=0,
                    help="time top-10 with seen items excluded for every user instead")
    ap.add_argument("--repeat", type=int, default=1, help="with --predict: every user this many times over")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    compiled = a.form.startswith("compile")
    bf16 = a.form.endswith("bf16")
    if compiled and not hasattr(torch, "compile"):
        raise SystemExit("torch.compile needs PyTorch 2.x (this is %s)" % torch.__version__)

    def amp():
        return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def maybe_compile(f):
        return torch.compile(f) if compiled else f

    H, N, B = 128, a.items, a.batch
    if a.text:
        ids, rows = {}, []
        for line in open(a.text):
            items = [t.split(",")[0] for t in line.rstrip("\n").split("\t", 1)[1].split(":") if t]
            rows.append(np.array([ids.setdefault(t, len(ids)) for t in items], dtype=np.int64))
        N = len(ids)
    else:
        rows = make_data(min(a.users, max(a.steps * 2, a.steps + 3) * B), N, a.per_user, 1)

    def xavier(n_in, n_out):
        s = math.sqrt(6.0 / (n_in + n_out))
        return ((torch.rand(n_in, n_out) - 0.5) * s).requires_grad_()

    W1, b1 = xavier(N, H), torch.zeros(H, requires_grad=True)
    W2, b2 = xavier(H, N), torch.zeros(N, requires_grad=True)
    alpha, lam, p_den, p_sp, beta = 0.025, 0.0001, 0.2, 0.5, 2.0
    bag = torch.nn.EmbeddingBag(N, H, mode="sum")
    bag.weight = torch.nn.Parameter(W1.detach().clone())
    w_in = bag.weight if a.input == "embeddingbag" else W1
    params = [w_in, b1, W2, b2]
    decays = (lam, 0.0, lam, 0.0)
    row = {"torch": torch.__version__, "form": a.form, "precision": "bf16" if bf16 else "fp32",
           "input": a.input, "threads": torch.get_num_threads(),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
           "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS")}

    def forward_loss(flat, off, scale, rowk, rowall, allr, nb: int):
        with amp():
            if a.input == "embeddingbag":
                z1 = bag(flat, off, per_sample_weights=scale) + b1
            else:
                # sparse.mm stays fp32 (its backward fails under bf16 autocast)
                with torch.autocast("cpu", enabled=False):
                    X = torch.sparse_coo_tensor(torch.stack([rowk, flat]), scale, (nb, N))
                    z1 = torch.sparse.mm(X, W1) + b1
            a1 = torch.sigmoid(z1)
            a2 = torch.sigmoid(a1 @ W2 + b2)
            t = torch.zeros_like(a2)
            t[rowall, allr] = 1.0
            eps = 1e-12
            loss = -(t * torch.log(a2.clamp_min(eps)) + (1 - t) * torch.log((1 - a2).clamp_min(eps))).sum()
            rho = a1.mean(0).clamp(1e-6, 0.999999)
            kl = (p_sp * torch.log(p_sp / rho) + (1 - p_sp) * torch.log((1 - p_sp) / (1 - rho))).sum()
            total = (loss + nb * beta * kl) / nb
        return total, loss

    def sgd(ps, grads):
        with torch.no_grad():
            for q, g, decay in zip(ps, grads, decays):
                q -= alpha * (g + decay * q)

    fwd = maybe_compile(forward_loss)
    upd = maybe_compile(sgd)

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
        total, loss = fwd(flat, torch.from_numpy(off[:-1]), scale, torch.from_numpy(rowk),
                          torch.from_numpy(rowall), torch.from_numpy(allr), len(batch_rows))
        for q in params:
            q.grad = None
        total.backward()
        upd(params, [q.grad for q in params])
        return float(loss.detach())

    if a.predict:
        if not a.text:
            rows = make_data(a.users, N, a.per_user, 1)

        def predict_batch(allr, rowall, off):
            with torch.no_grad(), amp():
                a1 = torch.sigmoid(bag(allr, off) + b1)
                # rank the logits: the output sigmoid keeps their order, so
                # PyTorch at its best skips it (1.7x faster here), as sten does
                s2 = torch.addmm(b2, a1, W2)
                s2[rowall, allr] = -float("inf")
                return torch.topk(s2, 10, dim=1).indices

        pb = maybe_compile(predict_batch)
        starts = list(range(0, len(rows), B))

        def run(los):
            checksum = 0
            for lo in los:
                br = rows[lo:lo + B]
                lens = np.array([len(r) for r in br])
                allr = torch.from_numpy(np.concatenate(br))
                rowall = torch.from_numpy(np.repeat(np.arange(len(br)), lens))
                off = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)[:-1]]))
                checksum += int(pb(allr, rowall, off)[0, 0])
            return checksum

        # warm-up, untimed: two batches (a compiled form recompiles once the
        # non-zero count changes, then takes it as dynamic) and the last, shorter one
        warm = sorted(set(starts[:2] + starts[-1:]))
        t0 = time.perf_counter()
        run(warm)
        warm_s = time.perf_counter() - t0
        g0 = graphs()
        t0 = time.perf_counter()
        run(starts * a.repeat)
        sec = time.perf_counter() - t0
        row.update({"impl": "pytorch-embeddingbag-" + a.form, "users": len(rows), "items": N, "k": 10,
                    "seconds": round(sec, 3), "users_per_s": round(len(rows) * a.repeat / sec, 1),
                    "repeat": a.repeat,
                    "warmup_batches": len(warm),
                    "compile_s": round(max(0.0, warm_s - sec * len(warm) / (len(starts) * a.repeat)), 2) if compiled else 0.0,
                    "recompiles_timed": graphs() - g0})
        print(json.dumps(row))
        return

    batches = [rows[i * B:(i + 1) * B] for i in range(len(rows) // B)]
    # warm-up, untimed: eager 2 steps; compiled 3 (the second recompiles with
    # the non-zero counts dynamic, the third checks that it holds)
    nwarm = 3 if compiled else 2
    t0 = time.perf_counter()
    for bt in batches[:nwarm]:
        step(bt)
    warm_s = time.perf_counter() - t0
    g0 = graphs()
    t0 = time.perf_counter()
    n = 0
    for bt in batches[nwarm:nwarm + a.steps]:
        last = step(bt)
        n += 1
    sec = time.perf_counter() - t0
    row.update({"impl": "pytorch-%s-%s" % (a.input, a.form), "batch": B, "items": N, "hidden": H,
                "steps": n, "ms_per_step": round(sec / n * 1e3, 3),
                "examples_per_s": round(n * B / sec, 1), "loss": last / B, "warmup_steps": nwarm,
                "compile_s": round(max(0.0, warm_s - nwarm * sec / n), 2) if compiled else 0.0,
                "recompiles_timed": graphs() - g0})
    print(json.dumps(row))


if __name__ == "__main__":
    try:
        main()
    finally:
        if _cache:
            shutil.rmtree(_cache, ignore_errors=True)
