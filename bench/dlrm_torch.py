"""bench/dlrm_torch.py — a PyTorch DLRM of the Kaggle shape, written from the
paper's description (Naumov et al. 2019), for side-by-side training speed:
26 EmbeddingBag tables (sum), bottom MLP 13-512-256-64-16, the dot
interaction of the 27 vectors (pairs j < i) after the bottom output, top MLP
-512-256-1, sigmoid + binary cross-entropy, Adam. Batches of random indices
and dense values of the same shapes as sten's run (speed, not parity).
--sparse 1 (default): the tables take sparse gradients and SparseAdam (only
the rows a batch touches, as sten's lazy updates; DLRM's own code uses sparse
embedding gradients), the MLPs Adam; --sparse 0: dense Adam over whole tables.
--form: eager (fp32), compile (fp32, torch.compile of the forward and loss,
its backward through AOTAutograd), bf16 (torch.autocast('cpu', bfloat16)),
compile-bf16; for scoring (--infer 1) also int8 and compile-int8: the MLPs'
Linear layers dynamically quantized (torch.ao.quantization.quantize_dynamic,
per-channel int8 weights, activations quantized per batch as they arrive:
FBGEMM's VNNI kernels on x86), the tables fp32, as sten's --precision int8;
impl "pytorch-dlrm-<sparse|dense|infer>-<form>". Ten warm-up steps
(the compile among them) are not timed; compile_s is their wall time less
what ten compiled steps take. Inductor gets a fresh cache folder per process
(unless TORCHINDUCTOR_CACHE_DIR is set): a cold compile every run.
Prints one JSON line."""
import argparse, contextlib, json, os, shutil, tempfile, time

_cache = None
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="dlrm-torch-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _cache

import torch  # noqa: E402  (after the cache folder is set)
import torch.nn as nn  # noqa: E402


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
    p.add_argument("--form", choices=["eager", "compile", "bf16", "compile-bf16", "int8", "compile-int8"],
                   default="eager")
    p.add_argument("--infer", type=int, default=0, help="1: time scoring (eval, no_grad) instead of training")
    a = p.parse_args()
    compiled, bf16, int8 = a.form.startswith("compile"), a.form.endswith("bf16"), a.form.endswith("int8")
    if int8 and not a.infer:
        raise SystemExit("--form %s: int8 is for scoring (--infer 1)" % a.form)
    if compiled and not hasattr(torch, "compile"):
        raise SystemExit("torch.compile needs PyTorch 2.x (this is %s)" % torch.__version__)
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

    def forward_loss(d, idx, y):
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            return loss_fn(m(d, idx, offsets).float(), y)

    fwd = torch.compile(forward_loss) if compiled else forward_loss

    def step(i):
        d, idx, y = batches[i % len(batches)]
        for o in opts:
            o.zero_grad()
        loss = fwd(d, idx.contiguous(), y)
        loss.backward()
        for o in opts:
            o.step()
        return loss
    if a.infer:  # scoring: the model in eval mode, no gradients, probabilities out
        m.eval()
        if int8:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
            m = quantize_dynamic(m, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)

        def score(d, idx):
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                return torch.sigmoid(m(d, idx, offsets).float())

        fscore = torch.compile(score) if compiled else score

        def step(i):  # noqa: F811 (the scoring step replaces the training one)
            d, idx, _ = batches[i % len(batches)]
            with torch.no_grad():
                return fscore(d, idx.contiguous())
    t0 = time.perf_counter()
    for i in range(10):  # warm-up
        step(i)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    sec = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch-dlrm-%s-%s" % ("infer" if a.infer else "sparse" if a.sparse else "dense", a.form),
                      "form": a.form, "precision": "bf16" if bf16 else "int8" if int8 else "fp32",
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "omp": os.environ.get("OMP_NUM_THREADS"),
                      "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "mkl": os.environ.get("MKL_NUM_THREADS"), "batch": B,
                      "rows": a.rows, "examples_per_s": round(a.steps * B / sec, 1),
                      "compile_s": round(max(0.0, warm - 10 * sec / a.steps), 2) if compiled else 0.0}))


if __name__ == "__main__":
    try:
        main()
    finally:
        if _cache:
            shutil.rmtree(_cache, ignore_errors=True)
